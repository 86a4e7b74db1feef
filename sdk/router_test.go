package sdk

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestTopicMatches(t *testing.T) {
	cases := []struct {
		pattern, topic string
		want           bool
	}{
		{"a/b/c", "a/b/c", true},
		{"a/b/c", "a/b", false},
		{"a/b", "a/b/c", false},
		{"a/+/c", "a/x/c", true},
		{"a/+/c", "a/x/y/c", false},
		{"a/+", "a/", true},
		{"+/+", "a/b", true},
		{"+", "a/b", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c/d", true},
		{"a/#", "b/c", false},
		{"#", "anything/at/all", true},
		{"a/+/#", "a/b", true},
		{"a/+/#", "a", false},
		{"1/2/+", "1/2/3", true},
		{"1/2/+", "1/3/3", false},
		{"sensors/temp", "sensors/temperature", false},
	}
	for _, c := range cases {
		if got := TopicMatches(c.pattern, c.topic); got != c.want {
			t.Errorf("TopicMatches(%q, %q) = %v, want %v", c.pattern, c.topic, got, c.want)
		}
	}
}

func TestValidatePattern(t *testing.T) {
	for _, ok := range []string{"a", "a/b", "a/+", "+/b/#", "#"} {
		if err := ValidatePattern(ok); err != nil {
			t.Errorf("ValidatePattern(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "a/#/b", "a/b+", "a#"} {
		err := ValidatePattern(bad)
		if err == nil || KindOf(err) != KindInvalidDestination {
			t.Errorf("ValidatePattern(%q) = %v, want an invalid-destination error", bad, err)
		}
	}
}

// delivered is one message a router handed on.
type delivered struct {
	RouteID uint32
	Topic   string
	Payload []byte
}

// recordingSink acknowledges every message with the error chosen for its route.
type recordingSink struct {
	mu   sync.Mutex
	got  []delivered
	fail map[uint32]error
}

func (s *recordingSink) deliver(id uint32, topic string, payload []byte, _ *Metadata, ack func(error)) {
	s.mu.Lock()
	s.got = append(s.got, delivered{id, topic, payload})
	err := s.fail[id]
	s.mu.Unlock()
	ack(err)
}

func ackAll(_ uint32, _ string, _ []byte, _ *Metadata, ack func(error)) { ack(nil) }

func TestRouterDispatchesToEveryMatchingRoute(t *testing.T) {
	routes := []Route{
		{ID: 1, Resource: "sensors/temp"},
		{ID: 2, Resource: "sensors/+"},
		{ID: 3, Resource: "sensors/#"},
		{ID: 4, Resource: "cmd/light"},
	}
	sink := &recordingSink{}
	r := newRouter(routes, sink.deliver)

	if err := r.Route(context.Background(), "sensors/temp", []byte("21")); err != nil {
		t.Fatalf("Route: %v", err)
	}
	var ids []uint32
	for _, m := range sink.got {
		ids = append(ids, m.RouteID)
		if m.Topic != "sensors/temp" || string(m.Payload) != "21" {
			t.Errorf("message = %+v", m)
		}
	}
	if len(ids) != 3 || ids[0] != 1 || ids[1] != 2 || ids[2] != 3 {
		t.Fatalf("routes hit = %v, want [1 2 3]", ids)
	}
	if got := r.ResourceIDs(); len(got) != 4 {
		t.Errorf("ResourceIDs = %v", got)
	}
}

func TestRouterNoRouteAndJoinedErrors(t *testing.T) {
	rejected := Errorf(KindRejected, "bad json")
	sink := &recordingSink{fail: map[uint32]error{2: rejected}}
	r := newRouter([]Route{{ID: 1, Resource: "a/+"}, {ID: 2, Resource: "a/b"}}, sink.deliver)

	err := r.Route(context.Background(), "zzz", nil)
	if !errors.Is(err, ErrNoRoute) {
		t.Fatalf("unmatched topic: err = %v, want ErrNoRoute", err)
	}
	err = r.Route(context.Background(), "a/b", []byte("x"))
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("one route rejected: err = %v, want it to carry ErrRejected", err)
	}
	if n := r.Dispatch("a/c", nil, nil); n != 1 {
		t.Fatalf("Dispatch matched %d routes, want 1", n)
	}
}

func TestRouteWaitsForAckAndHonoursContext(t *testing.T) {
	held := make(chan func(error), 1)
	r := newRouter([]Route{{ID: 7, Resource: "t"}}, func(_ uint32, _ string, _ []byte, _ *Metadata, ack func(error)) { held <- ack })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Route(ctx, "t", nil) }()
	ack := <-held
	select {
	case err := <-done:
		t.Fatalf("Route returned %v before the ack", err)
	default:
	}
	cancel()
	if err := <-done; KindOf(err) != KindTimeout {
		t.Fatalf("cancelled Route = %v, want a timeout error", err)
	}
	ack(nil) // a late ack must not block or panic
}

func TestDispatchToOneRouteDoesNotAllocate(t *testing.T) {
	r := newRouter([]Route{{ID: 1, Resource: "a/b"}, {ID: 2, Resource: "c/+"}}, ackAll)
	payload := []byte("x")
	for _, topic := range []string{"a/b", "c/d"} {
		if n := testing.AllocsPerRun(100, func() { r.Dispatch(topic, payload, nil) }); n != 0 {
			t.Errorf("Dispatch(%q) allocates %.0f times per message, want 0", topic, n)
		}
	}
}

func BenchmarkDispatchOneRoute(b *testing.B) {
	r := newRouter([]Route{{ID: 1, Resource: "sensors/temp"}, {ID: 2, Resource: "cmd/+"}}, ackAll)
	payload := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		r.Dispatch("sensors/temp", payload, nil)
	}
}

func TestDispatchWithMetadataReachesEveryRoute(t *testing.T) {
	var got []*Metadata
	var mu sync.Mutex
	r := newRouter([]Route{{ID: 1, Resource: "a/+"}, {ID: 2, Resource: "a/#"}}, func(_ uint32, _ string, _ []byte, m *Metadata, ack func(error)) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
		ack(nil)
	})
	meta := &Metadata{Properties: []Property{{Name: "k", Value: "v"}}, CorrelationData: []byte{1}}
	if n := r.DispatchWithMetadata("a/b", nil, meta, nil); n != 2 || len(got) != 2 || got[0] != meta || got[1] != meta {
		t.Fatalf("matched %d, metadata handed on: %v", n, got)
	}
	if v, ok := got[0].Get("k"); !ok || v != "v" {
		t.Fatalf("Get(k) = %q, %v", v, ok)
	}
	got = nil
	r.DispatchWithMetadata("a/b", nil, &Metadata{}, nil) // empty metadata is no metadata
	r.Dispatch("a/c", nil, nil)
	if len(got) != 4 || got[0] != nil || got[2] != nil {
		t.Fatalf("metadata of plain messages: %v", got)
	}
}
