package main

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aimdb-dev/aimdb-go/config"
	"github.com/hashicorp/hcl/v2"
)

// demoConfig is the built-in demonstration, used by `aimdb demo` and --config=demo.
//
//go:embed demo.hcl
var demoConfig []byte

// demoName is the --config value that picks the embedded demo.
const demoName = "demo"

// configFlags are the flags every command that reads a configuration has.
type configFlags struct {
	config, plugins *string
}

func addConfigFlags(fs *flag.FlagSet) configFlags {
	return configFlags{
		config:  fs.String("config", "aimdb.hcl", "configuration file (HCL), or \"demo\" for the built-in demo"),
		plugins: fs.String("plugins", "plugins", "directory holding the connector plugins"),
	}
}

// load parses the configuration; on errors it prints them all to w, one a line with
// file:line:col, and returns a reportedError.
func (f configFlags) load(w io.Writer) (*config.Config, error) {
	var cfg *config.Config
	var diags hcl.Diagnostics
	if *f.config == demoName {
		cfg, diags = config.Parse(demoConfig, "demo.hcl")
	} else {
		if st, err := os.Stat(*f.config); err != nil || st.IsDir() {
			abs, _ := filepath.Abs(*f.config)
			why := "is a directory"
			switch {
			case errors.Is(err, fs.ErrNotExist):
				why = "not found"
			case err != nil:
				why = err.Error()
			}
			return nil, fmt.Errorf("configuration %s: %s (use --config FILE, or --config=demo for the built-in demo)", abs, why)
		}
		cfg, diags = config.ParseFile(*f.config)
	}
	fmt.Fprint(w, config.Format(diags)) // errors, or warnings
	if cfg == nil {
		return nil, &reportedError{fmt.Errorf("configuration has errors")}
	}
	return cfg, nil
}
