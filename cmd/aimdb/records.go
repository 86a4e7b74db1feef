package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aimdb-dev/aimdb-go/host/control"
)

// clientFlags are the flags of commands that talk to a running instance.
type clientFlags struct {
	connect *string
	timeout *time.Duration
	output  *string
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	return &clientFlags{
		connect: fs.String("connect", "", "control socket of the running instance, unix:///PATH (default $AIMDB_CONNECT, else the default address of aimdb run)"),
		timeout: fs.Duration("timeout", 10*time.Second, "how long to wait for the instance to answer"),
		output:  outputFlag(fs),
	}
}

// dial connects to the instance; the returned context bounds one request.
func (a *app) dial(ctx context.Context, f *clientFlags) (*control.Client, error) {
	if err := checkOutput(*f.output); err != nil {
		return nil, err
	}
	if *f.timeout <= 0 {
		return nil, usagef("--timeout must be positive")
	}
	dctx, cancel := context.WithTimeout(ctx, *f.timeout)
	defer cancel()
	addr, err := a.controlAddress(*f.connect)
	if err != nil {
		return nil, err
	}
	return control.Dial(dctx, addr)
}

func init() {
	var lf *clientFlags
	register(&command{
		name:    "record list",
		summary: "list the records of a running instance",
		help: `Shows every record: buffer, capacity, whether the control socket may set it, what
writes it, counters and links.

examples:
  aimdb record list
  aimdb record list -o json | jq '.[] | select(.writable) | .key'
  aimdb record list --connect unix:///run/aimdb/aimdb.sock`,
		flags: func(fs *flag.FlagSet) { lf = addClientFlags(fs) },
		run: func(ctx context.Context, a *app, _ *flag.FlagSet, _ []string) error {
			c, err := a.dial(ctx, lf)
			if err != nil {
				return err
			}
			defer c.Close()
			rctx, cancel := context.WithTimeout(ctx, *lf.timeout)
			defer cancel()
			recs, err := c.Records(rctx)
			if err != nil {
				return err
			}
			if *lf.output == "json" {
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
		},
	})

	var gf *clientFlags
	register(&command{
		name:    "record get",
		args:    "KEY",
		summary: "print a record's newest value (JSON)",
		help: `Prints the record's newest value as JSON, without consuming it. Fails (exit 1)
when the record does not exist or holds no value yet.

examples:
  aimdb record get sensors.temp
  aimdb record get cmd.light -o json`,
		flags:   func(fs *flag.FlagSet) { gf = addClientFlags(fs) },
		minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, a *app, _ *flag.FlagSet, args []string) error {
			c, err := a.dial(ctx, gf)
			if err != nil {
				return err
			}
			defer c.Close()
			rctx, cancel := context.WithTimeout(ctx, *gf.timeout)
			defer cancel()
			v, err := c.Get(rctx, args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s\n", v)
			return err
		},
	})

	var sf *clientFlags
	register(&command{
		name:    "record set",
		args:    "KEY JSON",
		summary: "set a writable record's value",
		help: `Sets the record to the JSON value. Only records marked writable = true, and that
nothing else writes (no link_from, source or transform), may be set; otherwise the
instance answers "denied" (exit 1). Quote JSON strings for the shell: '"on"'.
Use -- before a value that starts with "-" and is not a number.

examples:
  aimdb record set cmd.light '{"on":true}'
  aimdb record set setpoint 21.5
  aimdb record set mode '"auto"'`,
		flags:   func(fs *flag.FlagSet) { sf = addClientFlags(fs) },
		minArgs: 2, maxArgs: 2,
		run: func(ctx context.Context, a *app, _ *flag.FlagSet, args []string) error {
			value := json.RawMessage(args[1])
			if !json.Valid(value) {
				hint := ""
				if !strings.ContainsAny(args[1], `{["`) {
					hint = fmt.Sprintf(` (a JSON string needs quotes: '"%s"')`, args[1])
				}
				return usagef("value %q is not valid JSON%s", args[1], hint)
			}
			c, err := a.dial(ctx, sf)
			if err != nil {
				return err
			}
			defer c.Close()
			rctx, cancel := context.WithTimeout(ctx, *sf.timeout)
			defer cancel()
			if err := c.Set(rctx, args[0], value); err != nil {
				return err
			}
			if *sf.output == "json" {
				return writeJSON(a.stdout, map[string]any{"key": args[0], "ok": true})
			}
			return nil
		},
	})

	var wf *clientFlags
	var count *int
	register(&command{
		name:    "record watch",
		args:    "PATTERN",
		summary: "print new values of matching records as they come",
		help: `Follows every record matching PATTERN until interrupted or -n values arrived.
Patterns are keys whose dot-separated segments may be "*" (exactly one segment) or,
last, "#" (all remaining segments). A single_latest record's current value is shown
first, marked as a snapshot. When the terminal cannot keep up, the instance skips
values and the next line says how many were lost; the database never waits.

examples:
  aimdb record watch sensors.temp
  aimdb record watch 'sensors.*' -n 10
  aimdb record watch '#' -o json | jq -c .data`,
		flags: func(fs *flag.FlagSet) {
			wf = addClientFlags(fs)
			count = fs.Int("n", 0, "exit after N values (0: run until interrupted)")
		},
		minArgs: 1, maxArgs: 1,
		run: func(ctx context.Context, a *app, _ *flag.FlagSet, args []string) error {
			if *count < 0 {
				return usagef("-n must not be negative")
			}
			if err := control.ValidatePattern(args[0]); err != nil {
				return usagef("%v", err)
			}
			return a.watch(ctx, wf, args[0], *count)
		},
	})
}

func (a *app) watch(ctx context.Context, f *clientFlags, pattern string, n int) error {
	c, err := a.dial(ctx, f)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sctx, cancel := context.WithTimeout(ctx, *f.timeout)
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
