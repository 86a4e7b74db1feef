package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire/client"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Manager runs every plugin of a directory and maps schemes to them.
type Manager struct {
	procs     []*Process
	schemes   map[string]*Process
	socketDir string // created by Open, removed by Close
	available []string
}

// Open starts every plugin in dir concurrently and maps their schemes. Files that are
// not plugins are skipped with a warning naming them. A plugin that fails to start
// (handshake, protocol version, stdout output, crash), and two plugins claiming one
// scheme, are errors naming the binaries; on any error every started plugin is
// stopped again and Open returns the errors joined.
func Open(ctx context.Context, dir string, cfg Config) (*Manager, error) {
	return OpenFor(ctx, dir, cfg, nil)
}

// OpenFor is Open for a configuration that needs only the connector kinds in kinds
// (nil: all): it starts the plugins named after those kinds (the usual layout, a
// plugin mqtt serving scheme mqtt), then, while a kind is still missing, the other
// plugins to find it, and keeps running only those that serve a kind in kinds.
// Available lists every kind it found, kept or not, for error messages.
func OpenFor(ctx context.Context, dir string, cfg Config, kinds []string) (*Manager, error) {
	cfg = cfg.withDefaults()
	paths, skipped, err := Scan(dir)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		cfg.Logger.Warn("skipping file in plugin directory", "file", s.Path, "reason", s.Reason)
	}
	var ownDir string
	if cfg.SocketDir == "" {
		if cfg.SocketDir, err = makeSocketDir(); err != nil {
			return nil, err
		}
		ownDir = cfg.SocketDir
	}
	m := &Manager{schemes: map[string]*Process{}, socketDir: ownDir}
	wanted := map[string]bool{}
	for _, k := range kinds {
		wanted[k] = true
	}
	first, rest := paths, []string(nil)
	if kinds != nil {
		first = nil
		for _, path := range paths {
			if wanted[filepath.Base(path)] {
				first = append(first, path)
			} else {
				rest = append(rest, path)
			}
		}
	}
	errs := m.start(ctx, first, cfg, wanted, kinds == nil)
	if kinds != nil && len(rest) > 0 && len(errs) == 0 && m.missing(kinds) {
		errs = m.start(ctx, rest, cfg, wanted, false)
	}
	if err := errors.Join(errs...); err != nil {
		m.Close(context.Background())
		return nil, err
	}
	sort.Strings(m.available)
	return m, nil
}

// start launches the plugins at paths concurrently and keeps those serving a wanted
// kind (all of them when keepAll); it returns their start errors.
func (m *Manager) start(ctx context.Context, paths []string, cfg Config, wanted map[string]bool, keepAll bool) []error {
	procs := make([]*Process, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	for i, path := range paths {
		wg.Go(func() { procs[i], errs[i] = Start(ctx, path, cfg) })
	}
	wg.Wait()
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	for _, p := range procs {
		if p == nil {
			continue
		}
		keep := keepAll
		for _, s := range p.Info().Schemes() {
			m.available = append(m.available, s)
			keep = keep || wanted[s]
		}
		if !keep {
			p.Close(ctx) // not needed by the configuration
			continue
		}
		m.procs = append(m.procs, p)
		for _, s := range p.Info().Schemes() {
			if other, dup := m.schemes[s]; dup {
				out = append(out, fmt.Errorf("configuration error: scheme %q is served by two plugins: %s and %s", s, other.path, p.path))
				continue
			}
			m.schemes[s] = p
		}
	}
	return out
}

// missing reports whether a kind in kinds has no plugin yet.
func (m *Manager) missing(kinds []string) bool {
	for _, k := range kinds {
		if _, ok := m.schemes[k]; !ok {
			return true
		}
	}
	return false
}

// Available lists every kind the plugins that were started serve, including those
// stopped again because the configuration does not need them.
func (m *Manager) Available() []string { return m.available }

// Lookup returns the plugin serving scheme.
func (m *Manager) Lookup(scheme string) (*Process, bool) {
	p, ok := m.schemes[scheme]
	return p, ok
}

// Schemes lists every scheme the plugins serve, sorted.
func (m *Manager) Schemes() []string {
	out := make([]string, 0, len(m.schemes))
	for s := range m.schemes {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Plugins returns the running plugins in path order.
func (m *Manager) Plugins() []*Process { return m.procs }

// Validate checks one instance's configuration with the plugin of its scheme
// (`aimdb check`).
func (m *Manager) Validate(ctx context.Context, scheme, url string, options sdk.Config, links []sdk.LinkSpec) error {
	p, ok := m.Lookup(scheme)
	if !ok {
		return fmt.Errorf("no plugin serves scheme %q (plugins serve: %s)", scheme, strings.Join(m.Schemes(), ", "))
	}
	return p.Validate(ctx, scheme, url, options, links)
}

// Close shuts every plugin down concurrently: an explicit shutdown call (instances
// close within ctx's deadline), then the process is killed.
func (m *Manager) Close(ctx context.Context) error {
	errs := make([]error, len(m.procs))
	var wg sync.WaitGroup
	for i, p := range m.procs {
		wg.Go(func() { errs[i] = p.Close(ctx) })
	}
	wg.Wait()
	if m.socketDir != "" {
		os.RemoveAll(m.socketDir)
	}
	return errors.Join(errs...)
}

// List starts every plugin in dir one after another, asks it to describe itself and
// stops it again (`aimdb plugins list`). It returns the descriptions of the plugins
// that answered, the files it skipped, and the errors of those that did not, joined.
func List(ctx context.Context, dir string, cfg Config) ([]Info, []Skipped, error) {
	cfg = cfg.withDefaults()
	paths, skipped, err := Scan(dir)
	if err != nil {
		return nil, nil, err
	}
	var infos []Info
	var errs []error
	for _, path := range paths {
		c, err := client.Launch(ctx, path, cfg.options(nil)) // describing needs no secret
		if err != nil {
			errs = append(errs, err)
			continue
		}
		infos = append(infos, c.Info())
		c.Kill()
	}
	return infos, skipped, errors.Join(errs...)
}

// Drain stops restarting every plugin: the host is shutting down.
func (m *Manager) Drain() {
	for _, p := range m.procs {
		p.Drain()
	}
}
