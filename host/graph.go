package host

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Graph is the data flow of a DB: records and links as nodes; transforms, joins and
// links as edges. `aimdb graph` prints it.
type Graph struct {
	// Nodes are the records in declaration order, then the links' resources.
	Nodes []GraphNode
	// Edges point from where values come from to where they go.
	Edges []GraphEdge
	// Order lists the record keys so that every record comes after the records it is
	// computed from.
	Order []string
}

// Node kinds.
const (
	NodeRecord = "record"
	NodeLink   = "link"
)

// Edge kinds.
const (
	EdgeTransform = "transform"
	EdgeJoin      = "join"
	EdgeLinkTo    = "link_to"
	EdgeLinkFrom  = "link_from"
)

// GraphNode is a record (ID is its key) or a link's outside resource (ID is its URL,
// password masked, e.g. "mqtt://sensors/temp").
type GraphNode struct {
	ID    string
	Kind  string
	Label string
}

// GraphEdge carries values From one node To another.
type GraphEdge struct {
	From, To string
	Kind     string
}

// Graph returns the DB's dependency graph.
func (db *DB) Graph() Graph { return db.graph }

// buildGraph assembles the graph and reports every cycle among records.
func buildGraph(db *DB) (Graph, []error) {
	var g Graph
	seenLink := map[string]bool{}
	succ := map[string][]string{}
	for _, key := range db.order {
		c := db.records[key].core()
		label := fmt.Sprintf("%s\n%s %s", key, c.typ, c.spec)
		g.Nodes = append(g.Nodes, GraphNode{ID: key, Kind: NodeRecord, Label: label})
	}
	for _, key := range db.order {
		c := db.records[key].core()
		kind := EdgeTransform
		if c.joined {
			kind = EdgeJoin
		}
		for _, in := range c.inputs {
			if _, ok := db.records[in]; !ok {
				continue // reported by the stage's binding
			}
			g.Edges = append(g.Edges, GraphEdge{From: in, To: key, Kind: kind})
			succ[in] = append(succ[in], key)
		}
		for _, l := range c.links {
			u := l.info.URL.String()
			if !seenLink[u] {
				seenLink[u] = true
				g.Nodes = append(g.Nodes, GraphNode{ID: u, Kind: NodeLink, Label: u})
			}
			if l.info.Direction == sdk.Outbound {
				g.Edges = append(g.Edges, GraphEdge{From: key, To: u, Kind: EdgeLinkTo})
			} else {
				g.Edges = append(g.Edges, GraphEdge{From: u, To: key, Kind: EdgeLinkFrom})
			}
		}
	}
	g.Order = topoOrder(db.order, succ)
	return g, cycleErrors(db.order, succ)
}

// topoOrder is Kahn's algorithm, stable in declaration order; records in cycles are left out.
func topoOrder(order []string, succ map[string][]string) []string {
	indeg := map[string]int{}
	for _, outs := range succ {
		for _, o := range outs {
			indeg[o]++
		}
	}
	var out []string
	ready := []string{}
	for _, k := range order {
		if indeg[k] == 0 {
			ready = append(ready, k)
		}
	}
	pos := map[string]int{}
	for i, k := range order {
		pos[k] = i
	}
	for len(ready) > 0 {
		k := ready[0]
		ready = ready[1:]
		out = append(out, k)
		for _, o := range succ[k] {
			if indeg[o]--; indeg[o] == 0 {
				ready = append(ready, o)
				slices.SortFunc(ready, func(a, b string) int { return pos[a] - pos[b] })
			}
		}
	}
	return out
}

// cycleErrors finds each strongly connected component that forms a cycle and reports
// one path through it, starting at its first record in declaration order.
func cycleErrors(order []string, succ map[string][]string) []error {
	index, low := map[string]int{}, map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var sccs [][]string
	n := 0
	var visit func(v string)
	visit = func(v string) {
		index[v], low[v] = n, n
		n++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range succ[v] {
			if _, seen := index[w]; !seen {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var scc []string
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				scc = append(scc, w)
				if w == v {
					break
				}
			}
			sccs = append(sccs, scc)
		}
	}
	for _, k := range order {
		if _, seen := index[k]; !seen {
			visit(k)
		}
	}
	pos := map[string]int{}
	for i, k := range order {
		pos[k] = i
	}
	var errs []error
	for _, scc := range sccs {
		if len(scc) == 1 && !slices.Contains(succ[scc[0]], scc[0]) {
			continue
		}
		slices.SortFunc(scc, func(a, b string) int { return pos[a] - pos[b] })
		path := cyclePath(scc[0], scc, succ)
		errs = append(errs, &ConfigError{Record: scc[0], Err: fmt.Errorf("dependency cycle: %s", strings.Join(path, " -> "))})
	}
	slices.SortFunc(errs, func(a, b error) int { return pos[a.(*ConfigError).Record] - pos[b.(*ConfigError).Record] })
	return errs
}

// cyclePath returns start, ..., start along edges inside the component.
func cyclePath(start string, scc []string, succ map[string][]string) []string {
	in := map[string]bool{}
	for _, k := range scc {
		in[k] = true
	}
	visited := map[string]bool{}
	var path []string
	var dfs func(v string) bool
	dfs = func(v string) bool {
		path = append(path, v)
		for _, w := range succ[v] {
			if w == start {
				path = append(path, start)
				return true
			}
			if in[w] && !visited[w] {
				visited[w] = true
				if dfs(w) {
					return true
				}
			}
		}
		path = path[:len(path)-1]
		return false
	}
	dfs(start)
	return path
}

// DOT renders the graph in Graphviz DOT: records as boxes, link resources as ellipses.
func (g Graph) DOT() string {
	var b strings.Builder
	b.WriteString("digraph aimdb {\n  rankdir=LR;\n")
	for _, n := range g.Nodes {
		shape := "box"
		if n.Kind == NodeLink {
			shape = "ellipse"
		}
		fmt.Fprintf(&b, "  %s [shape=%s, label=%s];\n", strconv.Quote(n.ID), shape, strconv.Quote(n.Label))
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "  %s -> %s [label=%s];\n", strconv.Quote(e.From), strconv.Quote(e.To), strconv.Quote(e.Kind))
	}
	b.WriteString("}\n")
	return b.String()
}
