package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/aimdb-dev/aimdb-go/host/plugin"
	"github.com/spf13/cobra"
)

func (a *app) newPluginsListCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "list",
		Short: "describe the plugins in a directory",
		Long: `Starts every plugin in --plugins one after another, asks what it serves and stops it.
Shows, per connector kind: file, scheme, version, wire protocol version, capabilities
and options (-o json has the option docs). Files that are not plugins are noted on
stderr. Exit code 1 when a plugin failed to answer.

Besides its kind's options, every connector block and link takes the host's own:
` + hostOptionsHelp(),
		Example: `  aimdb plugins list
  aimdb plugins list --plugins /usr/lib/aimdb/plugins
  aimdb plugins list -o json | jq '.[].kinds[].scheme'`,
		Args: positional(0, 0, "no arguments"),
	}
	var flagDir string
	addPluginsFlag(c.Flags(), &flagDir)
	output := addOutputFlag(c.Flags())
	lf := addLogFlags(c.Flags(), "warn")
	c.RunE = runE(func(c *cobra.Command, _ []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		log, err := lf.logger(a.stderr)
		if err != nil {
			return err
		}
		dir, err := findPluginDir(flagDir)
		if err != nil {
			return err
		}
		infos, skipped, listErr := plugin.List(c.Context(), dir, plugin.Config{Logger: log.Named("plugins")})
		if infos == nil && skipped == nil && listErr != nil {
			return listErr
		}
		for _, s := range skipped {
			fmt.Fprintf(a.stderr, "note: %s is not a plugin: %s\n", s.Path, s.Reason)
		}
		if *output == "json" {
			if err := writeJSON(a.stdout, pluginsJSON(infos)); err != nil {
				return err
			}
		} else {
			t := newTable(a.stdout, "FILE", "SCHEME", "VERSION", "PROTOCOL", "CAPABILITIES", "OPTIONS")
			for _, info := range infos {
				for _, k := range info.Kinds {
					var opts []string
					for _, o := range k.Options {
						opts = append(opts, o.Name)
					}
					t.row(filepath.Base(info.Path), k.Scheme, orDash(k.Version), strconv.Itoa(info.ProtocolVersion),
						orDash(strings.Join(k.Capabilities, ",")), orDash(strings.Join(dedupe(opts), ",")))
				}
			}
			if err := t.flush(); err != nil {
				return err
			}
			if len(infos) == 0 {
				fmt.Fprintf(a.stderr, "no plugins in %s\n", dir)
			}
		}
		if listErr != nil {
			return fmt.Errorf("some plugins did not answer:\n%w", listErr)
		}
		return nil
	})
	return c
}

// pluginJSON is one plugin in `plugins list -o json`.
type pluginJSON struct {
	File            string     `json:"file"`
	ProtocolVersion int        `json:"protocol_version"`
	SDKVersion      string     `json:"sdk_version,omitempty"`
	Kinds           []kindJSON `json:"kinds"`
}

type kindJSON struct {
	Scheme       string       `json:"scheme"`
	Version      string       `json:"version,omitempty"`
	Capabilities []string     `json:"capabilities"`
	MaxPayload   int          `json:"max_payload,omitempty"`
	Options      []optionJSON `json:"options"`
}

type optionJSON struct {
	Name    string `json:"name"`
	Scope   string `json:"scope"`
	Doc     string `json:"doc,omitempty"`
	Default string `json:"default,omitempty"`
	Secret  bool   `json:"secret,omitempty"`
}

func pluginsJSON(infos []plugin.Info) []pluginJSON {
	out := []pluginJSON{}
	for _, info := range infos {
		p := pluginJSON{File: info.Path, ProtocolVersion: info.ProtocolVersion, SDKVersion: info.SDKVersion, Kinds: []kindJSON{}}
		for _, k := range info.Kinds {
			kj := kindJSON{Scheme: k.Scheme, Version: k.Version, Capabilities: append([]string{}, k.Capabilities...), MaxPayload: k.MaxPayload, Options: []optionJSON{}}
			for _, o := range k.Options {
				kj.Options = append(kj.Options, optionJSON{Name: o.Name, Scope: o.Scope, Doc: o.Doc, Default: o.Default, Secret: o.Secret})
			}
			p.Kinds = append(p.Kinds, kj)
		}
		out = append(out, p)
	}
	return out
}

// dedupe drops repeated names, keeping the first (an option may have several scopes).
func dedupe(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// hostOptionsHelp lists the host-level options (connect.PolicyOptionDocs), one per
// line: name, where it goes, default and what it does.
func hostOptionsHelp() string {
	var b strings.Builder
	for _, o := range connect.PolicyOptionDocs {
		fmt.Fprintf(&b, "  %s (%s, default %s): %s\n", o.Name, o.Scope, o.Default, o.Doc)
	}
	return strings.TrimRight(b.String(), "\n")
}
