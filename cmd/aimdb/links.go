package main

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aimdb-dev/aimdb-go/host/control"
)

func (a *app) newLinkListCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "list",
		Short: "list the links of a running instance with their state and counters",
		Long: `Shows every link: its record, direction and URL, its state (ok, retrying, blocked,
failing), delivery mode, counters, what waits (in flight, backlog, held, disk outbox)
and its last error. docs/delivery.md explains each.`,
		Example: `  aimdb link list
  aimdb link list -o json | jq '.[] | select(.state != "ok")'`,
		Args: positional(0, 0, "no arguments"),
	}
	f := addClientFlags(c.Flags())
	c.RunE = runE(func(c *cobra.Command, _ []string) error {
		var links []control.LinkStatus
		if err := a.call(c.Context(), f, func(ctx context.Context, cl *control.Client) (err error) {
			links, err = cl.Links(ctx)
			return err
		}); err != nil {
			return err
		}
		if *f.output == "json" {
			return writeJSON(a.stdout, links)
		}
		t := newTable(a.stdout, "RECORD", "LINK", "STATE", "DELIVERY", "DELIVERED", "RETRIED", "DEAD", "DROPPED", "RECEIVED", "REFUSED", "WAITING", "LAST ERROR")
		for _, l := range links {
			arrow, waiting := "-> ", l.InFlight+int(l.Backlog)
			if l.Direction == "link_from" {
				arrow, waiting = "<- ", l.Held
			}
			if l.Outbox == "disk" {
				waiting = l.OutboxMessages + int(l.Backlog)
			}
			last := "-"
			if l.LastError != nil {
				last = l.LastError.Time.Local().Format(time.TimeOnly) + " " + oneLine(l.LastError.Text, 60)
			}
			u := func(n uint64) string { return strconv.FormatUint(n, 10) }
			t.row(l.Record, arrow+l.URL, string(l.State), orDash(l.Delivery), u(l.Stats.Delivered), u(l.Stats.Retried),
				u(l.Stats.DeadLettered), u(l.Stats.Dropped), u(l.Stats.Received), u(l.Stats.Refused), strconv.Itoa(waiting), last)
		}
		return t.flush()
	})
	return c
}

func (a *app) newConnectorListCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "list",
		Short: "list the connector instances of a running instance with their health",
		Long: `Shows every connector instance: its kind, state (connected, unhealthy, restarting,
crash loop), plugin process and restarts, and what its health check says.`,
		Example: `  aimdb connector list
  aimdb connector list -o json`,
		Args: positional(0, 0, "no arguments"),
	}
	f := addClientFlags(c.Flags())
	c.RunE = runE(func(c *cobra.Command, _ []string) error {
		var cs []control.ConnectorStatus
		if err := a.call(c.Context(), f, func(ctx context.Context, cl *control.Client) (err error) {
			cs, err = cl.Connectors(ctx)
			return err
		}); err != nil {
			return err
		}
		if *f.output == "json" {
			return writeJSON(a.stdout, cs)
		}
		return connectorTable(a.stdout, cs)
	})
	return c
}

// oneLine cuts s to one line of at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}
