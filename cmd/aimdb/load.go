package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/aimdb-dev/aimdb-go/config"
	"github.com/aimdb-dev/aimdb-go/host/plugin"
	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/pflag"
)

// demoConfig is the built-in demonstration, used by `aimdb demo` and --config=demo.
//
//go:embed demo.hcl
var demoConfig []byte

// demoName is the --config value that picks the embedded demo.
const demoName = "demo"

// configPaths are where the configuration is looked for without --config, in order.
var configPaths = []string{"aimdb.hcl", "/etc/aimdb/aimdb.hcl"}

// systemPlugins is where a system-wide installation keeps the plugins.
const systemPlugins = "/usr/lib/aimdb/plugins"

// configFlags are --config and --plugins.
type configFlags struct {
	config, plugins string
}

// addConfigFlags adds --config, defaulting to config ("" looks in configPaths), and
// --plugins.
func addConfigFlags(fs *pflag.FlagSet, config string) *configFlags {
	f := &configFlags{}
	fs.StringVar(&f.config, "config", config, `configuration file (HCL), or "demo" for the built-in demo (default ./aimdb.hcl, else /etc/aimdb/aimdb.hcl)`)
	addPluginsFlag(fs, &f.plugins)
	return f
}

// addPluginsFlag adds --plugins; "" means the first of pluginCandidates that exists.
func addPluginsFlag(fs *pflag.FlagSet, dir *string) {
	fs.StringVar(dir, "plugins", "", "directory holding the connector plugins (default ./bin/plugins, else plugins beside the aimdb binary, else "+systemPlugins+")")
}

// pluginCandidates are the plugin directories tried without --plugins, in order.
func pluginCandidates() []string {
	dirs := []string{filepath.Join("bin", "plugins")}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Join(filepath.Dir(exe), "plugins"))
	}
	return append(dirs, systemPlugins)
}

// findPluginDir returns the plugin directory to use: flagValue, else the first candidate
// that exists. A directory of Go sources without plugin binaries (a checkout's
// plugins folder) is an error that says where the built plugins are.
func findPluginDir(flagValue string) (string, error) {
	dir := flagValue
	if dir == "" {
		candidates := pluginCandidates()
		for _, c := range candidates {
			if st, err := os.Stat(c); err == nil && st.IsDir() {
				dir = c
				break
			}
		}
		if dir == "" {
			return "", fmt.Errorf("no plugin directory: none of %s exists (run `make build` in a checkout, or give --plugins DIR)", strings.Join(candidates, ", "))
		}
	}
	if isSourceFolder(dir) {
		return "", fmt.Errorf("plugin directory %s: this is a source folder: run `make build`; plugins are in bin/plugins", dir)
	}
	return dir, nil
}

// isSourceFolder reports whether dir holds Go sources, itself or in its
// subdirectories, and no plugin binary.
func isSourceFolder(dir string) bool {
	plugins, _, err := plugin.Scan(dir)
	if err != nil || len(plugins) > 0 {
		return false
	}
	for _, pattern := range []string{"*.go", filepath.Join("*", "*.go")} {
		if m, _ := filepath.Glob(filepath.Join(dir, pattern)); len(m) > 0 {
			return true
		}
	}
	return false
}

// configFile returns the configuration to read: the flag's value, else the first of
// configPaths that exists.
func (f *configFlags) configFile() (string, error) {
	if f.config != "" {
		return f.config, nil
	}
	for _, p := range configPaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	abs, _ := filepath.Abs(configPaths[0])
	return "", fmt.Errorf("no configuration: neither %s nor %s exists (use --config FILE, or --config=demo for the built-in demo)", abs, configPaths[1])
}

// load parses the configuration; on errors it prints them all to w, one a line with
// file:line:col, and returns a reportedError.
func (f *configFlags) load(w io.Writer) (*config.Config, error) {
	cfg, diags, err := f.parse()
	if err != nil {
		return nil, err
	}
	fmt.Fprint(w, config.Format(diags)) // errors, or warnings
	if diags.HasErrors() {
		return nil, &reportedError{fmt.Errorf("configuration has errors")}
	}
	return cfg, nil
}

// parse parses the configuration and returns it as far as it parsed, with every
// mistake found; err is for a configuration that cannot be read at all.
func (f *configFlags) parse() (*config.Config, hcl.Diagnostics, error) {
	name, err := f.configFile()
	if err != nil {
		return nil, nil, err
	}
	if name == demoName {
		cfg, diags := config.Parse(demoConfig, "demo.hcl")
		return cfg, diags, nil
	}
	if st, err := os.Stat(name); err != nil || st.IsDir() {
		abs, _ := filepath.Abs(name)
		why := "is a directory"
		switch {
		case errors.Is(err, fs.ErrNotExist):
			why = "not found"
		case err != nil:
			why = err.Error()
		}
		return nil, nil, fmt.Errorf("configuration %s: %s (use --config FILE, or --config=demo for the built-in demo)", abs, why)
	}
	cfg, diags := config.ParseFile(name)
	return cfg, diags, nil
}
