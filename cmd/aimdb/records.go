package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aimdb-dev/aimdb-go/host/control"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// clientFlags are the flags of commands that talk to a running instance.
type clientFlags struct {
	connect string
	timeout time.Duration
	output  *string
}

func addClientFlags(fs *pflag.FlagSet) *clientFlags {
	f := &clientFlags{output: addOutputFlag(fs)}
	fs.StringVar(&f.connect, "connect", "", "control socket of the running instance, unix:///PATH (default $AIMDB_CONNECT, else the default address of aimdb run)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the instance to answer")
	return f
}

// dial connects to the instance.
func (a *app) dial(ctx context.Context, f *clientFlags) (*control.Client, error) {
	if err := checkOutput(*f.output); err != nil {
		return nil, err
	}
	if f.timeout <= 0 {
		return nil, usagef("--timeout must be positive")
	}
	dctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	addr, err := a.controlAddress(f.connect)
	if err != nil {
		return nil, err
	}
	return control.Dial(dctx, addr)
}

// call dials the instance and runs one request, bounded by --timeout.
func (a *app) call(ctx context.Context, f *clientFlags, req func(ctx context.Context, c *control.Client) error) error {
	c, err := a.dial(ctx, f)
	if err != nil {
		return err
	}
	defer c.Close()
	rctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	return req(rctx, c)
}

// completeKeys completes the first argument with the record keys of the running
// instance (only the writable ones when writable is set).
func (a *app) completeKeys(f *clientFlags, writable bool) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var keys []cobra.Completion
		err := a.call(c.Context(), f, func(ctx context.Context, cl *control.Client) error {
			recs, err := cl.Records(ctx)
			for _, r := range recs {
				if strings.HasPrefix(r.Key, toComplete) && (r.Writable || !writable) {
					keys = append(keys, r.Key)
				}
			}
			return err
		})
		if err != nil {
			cobra.CompDebugln("record keys: "+err.Error(), false)
		}
		return keys, cobra.ShellCompDirectiveNoFileComp
	}
}

func (a *app) newRecordListCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "list",
		Short: "list the records of a running instance",
		Long: `Shows every record: buffer, capacity, whether the control socket may set it, what
writes it, counters and links.`,
		Example: `  aimdb record list
  aimdb record list -o json | jq '.[] | select(.writable) | .key'
  aimdb record list --connect unix:///run/aimdb/aimdb.sock`,
		Args: positional(0, 0, "no arguments"),
	}
	f := addClientFlags(c.Flags())
	c.RunE = runE(func(c *cobra.Command, _ []string) error {
		var recs []control.RecordInfo
		if err := a.call(c.Context(), f, func(ctx context.Context, cl *control.Client) (err error) {
			recs, err = cl.Records(ctx)
			return err
		}); err != nil {
			return err
		}
		if *f.output == "json" {
			return writeJSON(a.stdout, recs)
		}
		t := newTable(a.stdout, "KEY", "BUFFER", "CAP", "WRITABLE", "PRODUCED", "DROPPED", "WRITER", "LINKS")
		for _, r := range recs {
			capacity := "-"
			if r.Buffer == "spmc_ring" {
				capacity = strconv.Itoa(r.Capacity)
			}
			var links []string
			for _, l := range r.Links {
				arrow := "->"
				if l.Direction == "link_from" {
					arrow = "<-"
				}
				links = append(links, arrow+" "+l.URL)
			}
			t.row(r.Key, r.Buffer, capacity, strconv.FormatBool(r.Writable),
				strconv.FormatUint(r.Counters["produced"], 10), strconv.FormatUint(r.Counters["dropped"], 10),
				orDash(r.Writer), orDash(strings.Join(links, ", ")))
		}
		return t.flush()
	})
	return c
}

func (a *app) newRecordGetCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "get KEY",
		Short: "print a record's newest value (JSON)",
		Long: `Prints the record's newest value as JSON, without consuming it. Fails (exit 1)
when the record does not exist or holds no value yet.`,
		Example: `  aimdb record get sensors.temp
  aimdb record get cmd.light -o json`,
		Args: positional(1, 1, "KEY"),
	}
	f := addClientFlags(c.Flags())
	c.ValidArgsFunction = a.completeKeys(f, false)
	c.RunE = runE(func(c *cobra.Command, args []string) error {
		return a.call(c.Context(), f, func(ctx context.Context, cl *control.Client) error {
			v, err := cl.Get(ctx, args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s\n", v)
			return err
		})
	})
	return c
}

func (a *app) newRecordSetCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "set KEY JSON",
		Short: "set a writable record's value",
		Long: `Sets the record to the JSON value. Only records marked writable = true, and that
nothing else writes (no link_from, source or transform), may be set; otherwise the
instance answers "denied" (exit 1). Quote JSON strings for the shell: '"on"'.
A negative number is a value, not a flag; use -- before any other value that starts
with "-".`,
		Example: `  aimdb record set cmd.light '{"on":true}'
  aimdb record set setpoint 21.5
  aimdb record set setpoint -5
  aimdb record set mode '"auto"'`,
		Args: positional(2, 2, "KEY JSON"),
	}
	f := addClientFlags(c.Flags())
	c.ValidArgsFunction = a.completeKeys(f, true)
	c.RunE = runE(func(c *cobra.Command, args []string) error {
		value := json.RawMessage(args[1])
		if !json.Valid(value) {
			hint := ""
			if !strings.ContainsAny(args[1], `{["`) {
				hint = fmt.Sprintf(` (a JSON string needs quotes: '"%s"')`, args[1])
			}
			return usagef("value %q is not valid JSON%s", args[1], hint)
		}
		if err := a.call(c.Context(), f, func(ctx context.Context, cl *control.Client) error {
			return cl.Set(ctx, args[0], value)
		}); err != nil {
			return err
		}
		if *f.output == "json" {
			return writeJSON(a.stdout, map[string]any{"key": args[0], "ok": true})
		}
		return nil
	})
	return c
}

func (a *app) newRecordWatchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "watch PATTERN",
		Short: "print the newest and then every new value of matching records",
		Long: `Prints the newest value of every record matching PATTERN (marked as a snapshot),
then each new value until interrupted or -n values were printed. Patterns are keys
whose dot-separated segments may be "*" (exactly one segment) or, last, "#" (all
remaining segments). When the terminal cannot keep up, the instance skips values and
the next line says how many were lost; the database never waits.`,
		Example: `  aimdb record watch sensors.temp
  aimdb record watch 'sensors.*' -n 10
  aimdb record watch '#' -o json | jq -c .data`,
		Args: positional(1, 1, "PATTERN"),
	}
	f := addClientFlags(c.Flags())
	count := c.Flags().IntP("count", "n", 0, "exit after N values, snapshots included (0: run until interrupted)")
	c.ValidArgsFunction = a.completeKeys(f, false)
	c.RunE = runE(func(c *cobra.Command, args []string) error {
		if *count < 0 {
			return usagef("-n must not be negative")
		}
		if err := control.ValidatePattern(args[0]); err != nil {
			return usagef("%v", err)
		}
		return a.watch(c.Context(), f, args[0], *count)
	})
	return c
}

func (a *app) watch(ctx context.Context, f *clientFlags, pattern string, n int) error {
	c, err := a.dial(ctx, f)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sctx, cancel := context.WithTimeout(ctx, f.timeout)
	sub, err := c.Subscribe(sctx, pattern)
	cancel()
	if err != nil {
		return err
	}
	keys := append([]string(nil), sub.Topics...)
	sort.Strings(keys)
	if *f.output == "table" {
		fmt.Fprintf(a.stderr, "watching %d record(s): %s\n", len(keys), strings.Join(keys, ", "))
	}
	enc := json.NewEncoder(a.stdout)
	for seen := 0; n == 0 || seen < n; seen++ {
		e, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: a normal end
			}
			return err
		}
		if *f.output == "json" {
			out := struct {
				Topic    string          `json:"topic"`
				Seq      uint64          `json:"seq,omitempty"`
				Lag      uint64          `json:"lag,omitempty"`
				Snapshot bool            `json:"snapshot,omitempty"`
				Data     json.RawMessage `json:"data"`
			}{e.Topic, e.Seq, e.Lag, e.Snapshot, e.Data}
			if err := enc.Encode(out); err != nil {
				return err
			}
			continue
		}
		if e.Lag > 0 {
			fmt.Fprintf(a.stdout, "# %d value(s) skipped: the watcher fell behind\n", e.Lag)
		}
		mark := ""
		if e.Snapshot {
			mark = "  (snapshot)"
		}
		if _, err := fmt.Fprintf(a.stdout, "%s\t%s%s\n", e.Topic, e.Data, mark); err != nil {
			return err
		}
	}
	return nil
}
