package host

import (
	"slices"
	"strings"
	"testing"
)

func TestGraph(t *testing.T) {
	id := func(v int) (int, bool) { return v, true }
	b := NewBuilder()
	Configure[int](b, "out", func(r *Registrar[int]) {
		Transform(r, "mid", id)
		r.LinkTo("mqtt://alerts/out")
	})
	Configure[int](b, "mid", func(r *Registrar[int]) { Transform(r, "in", id) })
	Configure[int](b, "in", func(r *Registrar[int]) { r.LinkFrom("mqtt://sensors/in") })
	Configure[int](b, "other", func(r *Registrar[int]) { r.LinkTo("mqtt://alerts/out") })
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := db.Graph()
	if !slices.Equal(g.Order, []string{"in", "mid", "out", "other", DeadLetterKey}) {
		t.Fatalf("order %v", g.Order)
	}
	var ids []string
	for _, n := range g.Nodes {
		ids = append(ids, n.Kind+":"+n.ID)
	}
	if !slices.Equal(ids, []string{"record:out", "record:mid", "record:in", "record:other", "record:" + DeadLetterKey, "link:mqtt://alerts/out", "link:mqtt://sensors/in"}) {
		t.Fatalf("nodes %v", ids)
	}
	want := []GraphEdge{
		{"mid", "out", EdgeTransform}, {"out", "mqtt://alerts/out", EdgeLinkTo},
		{"in", "mid", EdgeTransform}, {"mqtt://sensors/in", "in", EdgeLinkFrom},
		{"other", "mqtt://alerts/out", EdgeLinkTo},
	}
	if !slices.Equal(g.Edges, want) {
		t.Fatalf("edges %v", g.Edges)
	}
	dot := g.DOT()
	for _, s := range []string{"digraph aimdb {", `"mqtt://sensors/in" [shape=ellipse`, `"in" -> "mid" [label="transform"];`, `label="out\nint spmc_ring(1024)"`} {
		if !strings.Contains(dot, s) {
			t.Errorf("DOT lacks %s:\n%s", s, dot)
		}
	}
}
