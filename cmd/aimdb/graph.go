package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
)

func init() {
	var f *clientFlags
	var dot *bool
	register(&command{
		name:    "graph",
		summary: "show the data-flow graph of a running instance",
		help: `Prints the records and link endpoints (nodes), the flows between them (edges) and
an order in which every record comes after the records it is computed from.
--dot prints Graphviz input instead.

examples:
  aimdb graph
  aimdb graph --dot | dot -Tsvg > aimdb.svg
  aimdb graph -o json`,
		flags: func(fs *flag.FlagSet) {
			f = addClientFlags(fs)
			dot = fs.Bool("dot", false, "print the graph in Graphviz dot language")
		},
		run: func(ctx context.Context, a *app, _ *flag.FlagSet, _ []string) error {
			c, err := a.dial(ctx, f)
			if err != nil {
				return err
			}
			defer c.Close()
			rctx, cancel := context.WithTimeout(ctx, *f.timeout)
			defer cancel()
			g, err := c.Graph(rctx)
			if err != nil {
				return err
			}
			switch {
			case *dot:
				_, err = fmt.Fprint(a.stdout, g.DOT())
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
			_, err = fmt.Fprintf(a.stdout, "\norder: %s\n", strings.Join(g.TopoOrder, " -> "))
			return err
		},
	})
}
