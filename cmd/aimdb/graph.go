package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/aimdb-dev/aimdb-go/host/control"
	"github.com/spf13/cobra"
)

func (a *app) newGraphCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "graph",
		Short: "show the data-flow graph of a running instance",
		Long: `Prints the records and link endpoints (nodes), the flows between them (edges) and
an order in which every record comes after the records it is computed from.
--dot prints Graphviz input instead.`,
		Example: `  aimdb graph
  aimdb graph --dot | dot -Tsvg > aimdb.svg
  aimdb graph -o json`,
		Args: positional(0, 0, "no arguments"),
	}
	f := addClientFlags(c.Flags())
	dot := c.Flags().Bool("dot", false, "print the graph in Graphviz dot language")
	c.RunE = runE(func(c *cobra.Command, _ []string) error {
		var g control.Graph
		if err := a.call(c.Context(), f, func(ctx context.Context, cl *control.Client) (err error) {
			g, err = cl.Graph(ctx)
			return err
		}); err != nil {
			return err
		}
		switch {
		case *dot:
			_, err := fmt.Fprint(a.stdout, g.DOT())
			return err
		case *f.output == "json":
			return writeJSON(a.stdout, g)
		}
		t := newTable(a.stdout, "FROM", "TO", "KIND")
		for _, e := range g.Edges {
			t.row(e.From, e.To, orDash(e.Label))
		}
		if err := t.flush(); err != nil {
			return err
		}
		var lone []string
		linked := map[string]bool{}
		for _, e := range g.Edges {
			linked[e.From], linked[e.To] = true, true
		}
		for _, n := range g.Nodes {
			if !linked[n.ID] {
				lone = append(lone, n.ID)
			}
		}
		if len(lone) > 0 {
			fmt.Fprintf(a.stdout, "\nunconnected: %s\n", strings.Join(lone, ", "))
		}
		_, err := fmt.Fprintf(a.stdout, "\norder: %s\n", strings.Join(g.TopoOrder, " -> "))
		return err
	})
	return c
}
