package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
	"github.com/spf13/cobra"
)

func (a *app) newConformanceCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "conformance PLUGIN_BINARY",
		Short: "check that a connector plugin behaves as the host needs",
		Long: `Runs the conformance kit against a plugin binary: handshake, describe, config errors,
lifecycle, publish, inbound routing, outage, shutdown, panics and leaks. Prints one
line per check: pass, FAIL with the reason, or skip with why (a capability the plugin
does not declare, or a peer feature it lacks). Exit code 1 when a check failed.

--peer runs a peer program that observes and injects messages on the outside system,
speaking JSON lines on stdin/stdout (conformance.ServePeer serves one written in Go;
docs/connector-guide.md describes the protocol). Without --peer the checks that need
one are skipped, and the others link to --resource names: by default names the
bundled kind accepts (kafka: topics conformance-a..c; knx: group addresses
1/1/1..1/1/3; modbus: holding registers 1/holding/0:123, 200:123, 400:123; any
other kind: conformance/a..c).`,
		Example: `  aimdb conformance bin/plugins/udp --url udp://127.0.0.1:9999 --option listen=127.0.0.1:9998 --peer ./udp-peer
  aimdb conformance bin/plugins/mqtt --url mqtt://127.0.0.1:1883 --link-option qos=1 --junit conformance.xml
  aimdb conformance bin/plugins/knx --url knx://127.0.0.1:3671 --only describe/,config/`,
		Args: positional(1, 1, "PLUGIN_BINARY"),
	}
	var (
		url, scheme, peer, junit string
		timeout                  time.Duration
		opts, linkOpts, routeOpt = sdk.Config{}, sdk.Config{}, sdk.Config{}
		only, skip, resources    []string
	)
	fs := c.Flags()
	fs.StringVar(&url, "url", "", "connector URL of the instances the checks build (required)")
	fs.StringVar(&scheme, "scheme", "", "connector kind to check, when the plugin serves several (default: the first)")
	fs.StringVar(&peer, "peer", "", "peer program and its arguments, split at spaces")
	fs.StringVar(&junit, "junit", "", "also write the results as JUnit XML to this file")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "bound of each wait for a message or a state change")
	fs.Func("option", "connector option `key=value` (repeatable)", kvInto(opts))
	fs.Func("link-option", "option `key=value` of every link_to link (repeatable)", kvInto(linkOpts))
	fs.Func("route-option", "option `key=value` of every link_from link (repeatable)", kvInto(routeOpt))
	fs.Func("only", "run only checks whose names start with this `prefix` (repeatable, or comma-separated)", func(s string) error {
		only = append(only, strings.Split(s, ",")...)
		return nil
	})
	fs.Func("resource", "without --peer, a `name` the checks link to as destination and topic (repeatable, or comma-separated; 3 needed)", func(s string) error {
		resources = append(resources, strings.Split(s, ",")...)
		return nil
	})
	fs.Func("skip", "skip this `check` (repeatable)", func(s string) error {
		skip = append(skip, s)
		return nil
	})
	c.RunE = runE(func(c *cobra.Command, args []string) error {
		ctx := c.Context()
		if url == "" {
			return usagef("--url is required")
		}
		if st, err := os.Stat(args[0]); err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("%s is not an executable plugin binary", args[0])
		}
		cfg := conformance.Config{
			Plugin: args[0], Scheme: scheme, URL: url, Timeout: timeout,
			Options: opts, LinkOptions: linkOpts, RouteOptions: routeOpt, Only: only,
			Skip: map[string]string{},
			Resources: func(scheme string) conformance.Resources {
				if len(resources) > 0 {
					return conformance.Resources{Names: resources}
				}
				return conformance.Resources{Names: defaultResources[scheme]}
			},
		}
		if n := len(resources); n > 0 && n < 3 {
			return usagef("--resource: the checks need 3 names, got %d", n)
		}
		for _, s := range skip {
			cfg.Skip[s] = "--skip"
		}
		if peer != "" {
			p, stop, err := conformance.ExecPeer(ctx, strings.Fields(peer))
			if err != nil {
				return err
			}
			defer stop()
			cfg.Peer = p
		}
		rep := conformance.Execute(ctx, cfg)
		if err := rep.WriteText(a.stdout); err != nil {
			return err
		}
		if junit != "" {
			f, err := os.Create(junit)
			if err != nil {
				return err
			}
			err = rep.WriteJUnit(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("--junit %s: %w", junit, err)
			}
		}
		if failed := rep.Failed(); len(failed) > 0 {
			return &reportedError{fmt.Errorf("%d check(s) failed", len(failed))}
		}
		return nil
	})
	return c
}

// defaultResources are the names the checks link to without --peer and --resource,
// for the bundled kinds that do not take the kit's own (conformance/a, b and c):
// Kafka topic names hold no "/", KNX resources are group addresses, and Modbus ones
// register ranges (123 registers: the most one write carries).
var defaultResources = map[string][]string{
	"kafka":  {"conformance-a", "conformance-b", "conformance-c"},
	"knx":    {"1/1/1", "1/1/2", "1/1/3"},
	"modbus": {"1/holding/0:123", "1/holding/200:123", "1/holding/400:123"},
}

// kvInto returns a flag setter that adds "key=value" to c.
func kvInto(c sdk.Config) func(string) error {
	return func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want key=value, got %q", s)
		}
		c[k] = v
		return nil
	}
}
