package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/aimdb-dev/aimdb-go/host/control"
	"github.com/aimdb-dev/aimdb-go/host/ops"
)

// statusWindow is how long a one-shot `aimdb status` watches the records to tell their rates.
const statusWindow = 500 * time.Millisecond

func (a *app) newStatusCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "status",
		Short: "show a running instance at a glance: connectors, links, records",
		Long: `Shows every connector instance (state, health, restarts), every link (state and
counters) and every record (values per second, dropped, refused) of a running
instance. Rates are measured over half a second, or between redraws with --watch,
which redraws every second until Ctrl-C. -o json prints the same as the record
aimdb.status holds.`,
		Example: `  aimdb status
  aimdb status --watch
  aimdb status -o json | jq '.links[] | select(.state != "ok")'`,
		Args: positional(0, 0, "no arguments"),
	}
	f := addClientFlags(c.Flags())
	watch := c.Flags().Bool("watch", false, "redraw every second until interrupted")
	c.RunE = runE(func(c *cobra.Command, _ []string) error {
		ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		cl, err := a.dial(ctx, f)
		if err != nil {
			return err
		}
		defer cl.Close()
		prev, err := a.status(ctx, cl, f.timeout)
		if err != nil {
			return err
		}
		prevAt, wait := time.Now(), statusWindow
		if *watch {
			wait = time.Second
			if err := a.printStatus(prev, *f.output, true); err != nil {
				return err
			}
		}
		t := time.NewTicker(wait)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil // interrupted
			case <-t.C:
			}
			st, err := a.status(ctx, cl, f.timeout)
			if err != nil {
				if ctx.Err() != nil {
					return nil // interrupted during the request
				}
				return err
			}
			now := time.Now()
			st.SetRates(prev, now.Sub(prevAt))
			if err := a.printStatus(st, *f.output, *watch); err != nil || !*watch {
				return err
			}
			prev, prevAt = st, now
		}
	})
	return c
}

// status asks the instance for its records, links and connectors.
func (a *app) status(ctx context.Context, cl *control.Client, timeout time.Duration) (ops.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st := ops.Status{Records: []ops.RecordStatus{}}
	recs, err := cl.Records(ctx)
	if err != nil {
		return st, err
	}
	for _, r := range recs {
		if r.Key == ops.StatusKey {
			continue
		}
		st.Records = append(st.Records, ops.RecordStatus{Key: r.Key, Buffer: r.Buffer, Produced: r.Counters["produced"],
			Dropped: r.Counters["dropped"], Refused: r.Counters["refused"], Occupancy: int(r.Counters["occupancy"])})
	}
	if st.Links, err = cl.Links(ctx); err != nil {
		return st, err
	}
	st.Connectors, err = cl.Connectors(ctx)
	return st, err
}

// printStatus prints st as three tables, or as JSON; clear redraws the terminal first.
func (a *app) printStatus(st ops.Status, output string, clear bool) error {
	if output == "json" {
		return writeJSON(a.stdout, st)
	}
	if clear {
		fmt.Fprint(a.stdout, "\x1b[H\x1b[2J") // cursor home, clear screen
		fmt.Fprintf(a.stdout, "aimdb status  %s  (Ctrl-C to stop)\n\n", time.Now().Format(time.TimeOnly))
	}
	if err := connectorTable(a.stdout, st.Connectors); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	t := newTable(a.stdout, "RECORD", "LINK", "STATE", "DELIVERED", "FAILED", "RETRIED", "DEAD", "DROPPED", "RECEIVED", "REFUSED")
	for _, l := range st.Links {
		arrow := "-> "
		if l.Direction == "link_from" {
			arrow = "<- "
		}
		t.row(l.Record, arrow+l.URL, string(l.State), u(l.Stats.Delivered), u(l.Stats.Failed), u(l.Stats.Retried),
			u(l.Stats.DeadLettered), u(l.Stats.Dropped), u(l.Stats.Received), u(l.Stats.Refused))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	t = newTable(a.stdout, "RECORD", "BUFFER", "VALUES/S", "PRODUCED", "DROPPED", "REFUSED", "WAITING")
	for _, r := range st.Records {
		t.row(r.Key, r.Buffer, strconv.FormatFloat(r.Rate, 'f', 1, 64), u(r.Produced), u(r.Dropped), u(r.Refused), strconv.Itoa(r.Occupancy))
	}
	return t.flush()
}

// connectorTable prints the connector instances (as `aimdb connector list` does).
func connectorTable(w io.Writer, cs []control.ConnectorStatus) error {
	t := newTable(w, "NAME", "KIND", "STATE", "PID", "RESTARTS", "SINCE", "HEALTH")
	for _, s := range cs {
		pid := "-"
		if s.Pid != 0 {
			pid = strconv.Itoa(s.Pid)
		}
		t.row(s.Name, s.Kind, s.State, pid, strconv.Itoa(s.Restarts), s.Since.Local().Format(time.TimeOnly), orDash(oneLine(s.Health, 80)))
	}
	return t.flush()
}
