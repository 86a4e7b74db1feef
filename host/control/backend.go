package control

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/aimdb-dev/aimdb-go/host/connect"
)

// Backend is what the server needs from the database. Errors wrap ErrNotFound,
// ErrDenied, ErrInvalid or ErrNoValue so the client gets the right error code.
type Backend interface {
	// Records describes every record.
	Records() []RecordInfo
	// Get returns a record's newest value as JSON.
	Get(key string) (json.RawMessage, error)
	// Set writes a JSON value; it fails with ErrDenied unless the record is writable
	// and nothing else writes it.
	Set(key string, value json.RawMessage) error
	// Watch follows a record's new values; for a single_latest record it begins with
	// the current value, if there is one. It may refuse (ErrDenied) a record whose
	// values watching would take from their consumer, such as a mailbox.
	Watch(key string) (Watcher, error)
	// Graph returns the data-flow graph.
	Graph() Graph
	// Links reports every link's state and counters; Connectors every connector
	// instance's. Both are empty without a connector layer.
	Links() []LinkStatus
	Connectors() []ConnectorStatus
}

// LinkStatus is one link's state and counters in link.list (see docs/delivery.md).
type LinkStatus = connect.LinkStatus

// ConnectorStatus is one connector instance's state in connector.list.
type ConnectorStatus = connect.ConnectorStatus

// Watcher follows one record without a goroutine of its own, so one connection can
// follow thousands: the server drains it with TryNext and arms Notify to hear of the
// next value. It never holds up the database: a watcher that falls behind skips values
// and says how many.
type Watcher interface {
	// TryNext returns the next value without waiting; ok is false when there is none.
	// lagged counts the values skipped before it.
	TryNext() (value json.RawMessage, lagged uint64, ok bool, err error)
	// Notify arranges for wake to be called once, from the writer's goroutine, when a
	// value may be ready, and reports true; it reports false, arranging nothing, when
	// TryNext has something to return now. wake must not block.
	Notify(wake func()) bool
	// Close releases the watcher; it may be called from any goroutine.
	Close()
}

// RecordInfo describes one record in record.list.
type RecordInfo struct {
	Key      string `json:"key"`
	Type     string `json:"type,omitempty"`
	Buffer   string `json:"buffer"`
	Capacity int    `json:"capacity,omitempty"`
	Writable bool   `json:"writable"`
	// Writer names what produces the record ("link_from mqtt://cmd/light", "source"),
	// "" when nothing but code and the control socket does.
	Writer string `json:"writer,omitempty"`
	// Counters holds the record's metrics by name (produced, dropped, ...).
	Counters map[string]uint64 `json:"counters,omitempty"`
	Links    []LinkInfo        `json:"links,omitempty"`
}

// LinkInfo describes one link of a record.
type LinkInfo struct {
	Direction string `json:"direction"` // link_from or link_to
	URL       string `json:"url"`       // the password, if any, is masked
	Codec     string `json:"codec,omitempty"`
	// Counters holds the link's metrics by name (sent, errors, received, ...).
	Counters map[string]uint64 `json:"counters,omitempty"`
}

// Graph is the data-flow graph: records, links and the stages between them.
type Graph struct {
	Nodes     []GraphNode `json:"nodes"`
	Edges     []GraphEdge `json:"edges"`
	TopoOrder []string    `json:"topo_order"`
}

// GraphNode is a record, a link endpoint or a stage.
type GraphNode struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Label string `json:"label,omitempty"`
}

// GraphEdge is a flow of values from one node to another.
type GraphEdge struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Label string `json:"label,omitempty"`
}

// DOT renders the graph in Graphviz's dot language.
func (g Graph) DOT() string {
	var b strings.Builder
	b.WriteString("digraph aimdb {\n  rankdir=LR;\n")
	nodes := append([]GraphNode(nil), g.Nodes...)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	for _, n := range nodes {
		label := n.Label
		if label == "" {
			label = n.ID
		}
		shape := "box"
		switch n.Kind {
		case "record":
			shape = "ellipse"
		case "link", "link_from", "link_to":
			shape = "cds"
		}
		fmt.Fprintf(&b, "  %q [label=%q, shape=%s];\n", n.ID, label, shape)
	}
	for _, e := range g.Edges {
		if e.Label != "" {
			fmt.Fprintf(&b, "  %q -> %q [label=%q];\n", e.From, e.To, e.Label)
		} else {
			fmt.Fprintf(&b, "  %q -> %q;\n", e.From, e.To)
		}
	}
	b.WriteString("}\n")
	return b.String()
}
