// Command dist packages AimDB for a fleet: for each architecture, a .deb made with nfpm
// (used as a library) and a tarball with the same files, from the binaries that
// `make dist` cross-compiled into a staging folder. It is a build tool: it lives in its
// own module, so nfpm and its dependencies never reach the aimdb module or its binaries.
//
//	dist -version v1.2.3 -stage bin/dist/stage -out bin/dist -arch "amd64 arm64 arm"
//
// The staging folder holds linux_ARCH/aimdb and linux_ARCH/plugins/NAME for each
// architecture; every plugin of the checkout's plugins/ folder must be there.
package main

import (
	"archive/tar"
	"compress/gzip"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// Where the .deb installs things. The plugin folder is the one aimdb searches by
// default (cmd/aimdb/load.go); the configuration is its default /etc/aimdb/aimdb.hcl.
const (
	debBinary  = "/usr/bin/aimdb"
	debPlugins = "/usr/lib/aimdb/plugins"
	debConfig  = "/etc/aimdb/aimdb.hcl"
	debUnit    = "/usr/lib/systemd/system/aimdb.service"
	debDocs    = "/usr/share/doc/aimdb"
)

const description = `data-sync hub: typed in-memory records kept in sync through connectors
AimDB keeps typed, in-memory records and keeps them in sync with outside
systems through connector plugins: MQTT (with an optional embedded broker),
Kafka, KNX and HTTP. The package installs the aimdb command, the bundled
plugins, an example configuration that needs no outside service, and a
hardened systemd unit (aimdb.service) that is not enabled by default.`

// target is one architecture: GOARCH, nfpm's name for it, and the tarball's.
type target struct {
	goarch, nfpmArch, label string
	machine                 elf.Machine
}

var targets = map[string]target{
	"amd64": {"amd64", "amd64", "amd64", elf.EM_X86_64},
	"arm64": {"arm64", "arm64", "arm64", elf.EM_AARCH64},
	"arm":   {"arm", "arm7", "armv7", elf.EM_ARM}, // GOARM=7; Debian armhf
}

func main() {
	var o options
	flag.StringVar(&o.version, "version", "0.0.0-dev", "version, as `git describe` prints it")
	flag.StringVar(&o.stage, "stage", "bin/dist/stage", "folder holding linux_ARCH/aimdb and linux_ARCH/plugins/*")
	flag.StringVar(&o.files, "files", "internal/dist/files", "folder of the unit, the example configuration and the maintainer scripts")
	flag.StringVar(&o.root, "root", ".", "the checkout: its plugins/ folder lists the plugins, README.md and docs/packaging.md go into the packages")
	flag.StringVar(&o.out, "out", "bin/dist", "where the packages are written")
	flag.StringVar(&o.arches, "arch", "amd64 arm64 arm", "GOARCH values to package, separated by spaces")
	flag.Int64Var(&o.mtime, "mtime", 0, "modification time of every packaged file, Unix seconds (0: now); make passes the last commit's time")
	flag.StringVar(&o.compression, "compression", "gzip", "compression of the .deb's data: gzip, xz or zstd (dpkg 1.21.18 and newer)")
	flag.StringVar(&o.maintainer, "maintainer", "AimDB-Go developers <aimdb-go@aimdb.invalid>", "the .deb's Maintainer field")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "dist: no arguments expected; see -help")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

type options struct {
	version, stage, files, root, out, arches, maintainer, compression string
	mtime                                                             int64
}

func run(o options) error {
	debVer, err := debVersion(o.version)
	if err != nil {
		return err
	}
	mtime := time.Now().UTC().Truncate(time.Second)
	if o.mtime > 0 {
		mtime = time.Unix(o.mtime, 0).UTC()
	}
	plugins, err := pluginNames(filepath.Join(o.root, "plugins"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	for _, a := range strings.Fields(o.arches) {
		t, ok := targets[a]
		if !ok {
			return fmt.Errorf("architecture %q: want one of amd64, arm64, arm", a)
		}
		stage := filepath.Join(o.stage, "linux_"+t.goarch)
		entries, err := contents(o, stage, plugins, t)
		if err != nil {
			return err
		}
		debName, err := writeDeb(o, debVer, mtime, t, entries)
		if err != nil {
			return fmt.Errorf("linux/%s: .deb: %w", t.goarch, err)
		}
		tarName, err := writeTarball(o, mtime, t, entries)
		if err != nil {
			return fmt.Errorf("linux/%s: tarball: %w", t.goarch, err)
		}
		for _, n := range []string{debName, tarName} {
			st, err := os.Stat(n)
			if err != nil {
				return err
			}
			fmt.Printf("dist: %s (%.1f MiB)\n", n, float64(st.Size())/(1<<20))
		}
	}
	return nil
}

// entry is one packaged file: where it comes from, where the .deb installs it, and
// where it lands under the tarball's top folder ("" for .deb only).
type entry struct {
	src, deb, tar string
	mode          fs.FileMode
	conffile      bool
}

// contents lists the files of one architecture's packages, after checking that the
// binaries are static ELF executables for it.
func contents(o options, stage string, plugins []string, t target) ([]entry, error) {
	bin := filepath.Join(stage, "aimdb")
	if err := checkBinary(bin, t); err != nil {
		return nil, err
	}
	es := []entry{{src: bin, deb: debBinary, tar: "aimdb", mode: 0o755}}
	for _, p := range plugins {
		src := filepath.Join(stage, "plugins", p)
		if err := checkBinary(src, t); err != nil {
			return nil, err
		}
		es = append(es, entry{src: src, deb: path.Join(debPlugins, p), tar: path.Join("plugins", p), mode: 0o755})
	}
	return append(es,
		entry{src: filepath.Join(o.files, "aimdb.hcl"), deb: debConfig, tar: "aimdb.hcl", mode: 0o644, conffile: true},
		entry{src: filepath.Join(o.files, "aimdb.service"), deb: debUnit, tar: "aimdb.service", mode: 0o644},
		entry{src: filepath.Join(o.root, "README.md"), deb: path.Join(debDocs, "README.md"), tar: "README.md", mode: 0o644},
		entry{src: filepath.Join(o.root, "docs", "packaging.md"), deb: path.Join(debDocs, "packaging.md"), tar: "packaging.md", mode: 0o644},
	), nil
}

// pluginNames are the plugins a checkout builds: the folders of plugins/.
func pluginNames(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing the plugins: %w", err)
	}
	var names []string
	for _, de := range des {
		if de.IsDir() {
			names = append(names, de.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no plugin folders in %s", dir)
	}
	slices.Sort(names)
	return names, nil
}

// checkBinary makes sure name is an ELF executable for t without a dynamic loader
// (CGO_ENABLED=0): a package for one architecture must not carry another's binaries.
func checkBinary(name string, t target) error {
	f, err := elf.Open(name)
	if err != nil {
		return fmt.Errorf("%s: %w (run `make dist`, which builds it)", name, err)
	}
	defer f.Close()
	if f.Machine != t.machine {
		return fmt.Errorf("%s: built for %s, not linux/%s", name, f.Machine, t.goarch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s: dynamically linked; build it with CGO_ENABLED=0", name)
		}
	}
	return nil
}

// writeDeb makes the .deb of one architecture with nfpm and returns its path.
func writeDeb(o options, version string, mtime time.Time, t target, es []entry) (string, error) {
	var cs files.Contents
	for _, e := range es {
		c := &files.Content{Source: e.src, Destination: e.deb, FileInfo: &files.ContentFileInfo{Mode: e.mode, MTime: mtime}}
		if e.conffile {
			c.Type = files.TypeConfig
		}
		cs = append(cs, c)
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          "aimdb",
		Arch:          t.nfpmArch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none", // debVersion already made it a Debian version
		Section:       "net",
		Priority:      "optional",
		Maintainer:    o.maintainer,
		Description:   description,
		Homepage:      "https://github.com/aimdb-dev/aimdb-go",
		MTime:         mtime,
		Overridables: nfpm.Overridables{
			Contents: cs,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(o.files, "postinst"),
				PreRemove:   filepath.Join(o.files, "prerm"),
				PostRemove:  filepath.Join(o.files, "postrm"),
			},
			Deb: nfpm.Deb{Compression: o.compression},
		},
	})
	if err := nfpm.Validate(info); err != nil {
		return "", err
	}
	name := filepath.Join(o.out, deb.Default.ConventionalFileName(info))
	return name, writeFile(name, func(w io.Writer) error { return deb.Default.Package(info, w) })
}

// writeTarball writes aimdb-VERSION-linux-ARCH.tar.gz: the same files under one top
// folder, laid out to run from where it is unpacked (the plugins folder beside the
// binary is one aimdb searches by default).
func writeTarball(o options, mtime time.Time, t target, es []entry) (string, error) {
	top := fmt.Sprintf("aimdb-%s-linux-%s", strings.TrimPrefix(o.version, "v"), t.label)
	name := filepath.Join(o.out, top+".tar.gz")
	return name, writeFile(name, func(w io.Writer) error {
		gz, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
		if err != nil {
			return err
		}
		gz.ModTime = mtime
		tw := tar.NewWriter(gz)
		dirs := map[string]bool{}
		for _, e := range es {
			for _, d := range parents(path.Join(top, e.tar)) {
				if dirs[d] {
					continue
				}
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: mtime, Uname: "root", Gname: "root"}); err != nil {
					return err
				}
			}
			if err := addFile(tw, e.src, path.Join(top, e.tar), e.mode, mtime); err != nil {
				return err
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		return gz.Close()
	})
}

// parents returns the folders above name, outermost first.
func parents(name string) []string {
	var ps []string
	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		ps = append(ps, d)
	}
	slices.Reverse(ps)
	return ps
}

func addFile(tw *tar.Writer, src, name string, mode fs.FileMode, mtime time.Time) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", src)
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: st.Size(), Mode: int64(mode), ModTime: mtime, Uname: "root", Gname: "root"}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// writeFile writes name through fill, via a temporary file renamed into place, so a
// failed run leaves no half-written package behind.
func writeFile(name string, fill func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".dist-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = fill(tmp); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// debVersion turns what `git describe --tags` prints into a Debian version that sorts
// the way the commits do: "v1.2.3" is 1.2.3, a pre-release "v1.2.3-rc.1" is
// 1.2.3~rc.1 (before 1.2.3), "v1.2.3-4-gabc1234" (4 commits after the tag) is
// 1.2.3+git4.gabc1234 (after it), "-dirty" adds "+dirty" or ".dirty", and the fallback
// "0.0.0-dev" is 0.0.0~dev, before any release.
func debVersion(describe string) (string, error) {
	v := strings.TrimPrefix(strings.TrimSpace(describe), "v")
	dirty := strings.HasSuffix(v, "-dirty")
	v = strings.TrimSuffix(v, "-dirty")
	var meta []string
	// "-N-gHASH" after the tag: commits since it.
	if parts := strings.Split(v, "-"); len(parts) >= 3 {
		n, h := parts[len(parts)-2], parts[len(parts)-1]
		if _, err := strconv.ParseUint(n, 10, 32); err == nil && strings.HasPrefix(h, "g") && isHex(h[1:]) {
			meta = append(meta, "git"+n, h)
			v = strings.Join(parts[:len(parts)-2], "-")
		}
	}
	if dirty {
		meta = append(meta, "dirty")
	}
	base, pre, _ := strings.Cut(v, "-")
	if base == "" || strings.Trim(base, "0123456789.") != "" || base[0] == '.' {
		return "", fmt.Errorf("version %q: want git describe output of a tag like v1.2.3", describe)
	}
	out := base
	if pre != "" {
		out += "~" + strings.ReplaceAll(pre, "-", ".")
	}
	if len(meta) > 0 {
		out += "+" + strings.Join(meta, ".")
	}
	for _, r := range out {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(".+~", r)) {
			return "", errors.New("version " + strconv.Quote(describe) + ": " + strconv.QuoteRune(r) + " cannot be part of a Debian version")
		}
	}
	return out, nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
