package client

import (
	"strings"
	"testing"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// deliverBatch without a process: payloads cut from the packed data in order,
// oversized messages marked with their full size, failures only for refused messages,
// held ones listed, and a malformed batch refused whole.
func TestDeliverBatchSplitsDataAndAcks(t *testing.T) {
	type got struct {
		inst    uint64
		route   uint32
		payload string
		size    int
	}
	var seen []got
	var later func(error)
	d := &Data{c: &Conn{}, wake: make(chan struct{}, 1), later: map[uint64]*pb.InboundAck{}, h: Handler{
		Deliver: func(m Inbound, settle func(error)) (error, bool) {
			seen = append(seen, got{m.Instance, m.Route, string(m.Payload), m.Size})
			switch string(m.Payload) {
			case "bad":
				return sdk.Errorf(sdk.KindRejected, "cannot decode %q", m.Payload), true
			case "wait":
				later = settle
				return nil, false
			}
			return nil, true
		}}}
	b := &pb.InboundBatch{
		BatchId:     3,
		InstanceIds: []uint64{1, 1, 2, 1, 1},
		RouteIds:    []uint32{10, 11, 10, 12, 13},
		Sizes:       []uint32{3, 0, 4, 3, 4},
		Data:        []byte("onewaitbadfour"),
		Oversized:   []*pb.Oversized{{Index: 4, Size: 99}},
	}
	d.deliverBatch(b)
	want := []got{{1, 10, "one", 3}, {1, 11, "", 0}, {2, 10, "wait", 4}, {1, 12, "bad", 3}, {1, 13, "four", 99}}
	if len(seen) != len(want) {
		t.Fatalf("delivered %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("delivered %v, want %v", seen, want)
		}
	}
	if len(d.acks) != 1 {
		t.Fatalf("acks %v", d.acks)
	}
	a := d.acks[0]
	if a.BatchId != 3 || len(a.Held) != 1 || a.Held[0] != 2 || len(a.Failures) != 1 || a.Failures[0].Index != 3 {
		t.Fatalf("first ack %v", a)
	}
	if err := pluginwire.ErrorFromPB(a.Failures[0].Error); sdk.KindOf(err) != sdk.KindRejected || !strings.Contains(err.Error(), `cannot decode "bad"`) {
		t.Fatalf("refused message: %v", err)
	}
	later(sdk.Errorf(sdk.KindClosed, "shutting down"))
	f := d.later[3]
	if f == nil || len(f.Settled) != 1 || f.Settled[0] != 2 || len(f.Failures) != 1 || f.Failures[0].Index != 2 {
		t.Fatalf("follow-up ack %v", f)
	}

	seen, d.acks = nil, nil
	b.Sizes[4] = 5 // sizes no longer add up to the data
	d.deliverBatch(b)
	if len(seen) != 0 {
		t.Fatalf("malformed batch delivered %v", seen)
	}
	if len(d.acks) != 1 || len(d.acks[0].Failures) != 5 {
		t.Fatalf("malformed batch: acks %v, want 5 failures", d.acks)
	}
	for i, f := range d.acks[0].Failures {
		err := pluginwire.ErrorFromPB(f.Error)
		if f.Index != uint32(i) || sdk.KindOf(err) != sdk.KindRejected || !strings.Contains(err.Error(), "malformed inbound batch 3") {
			t.Fatalf("failure %d: index %d, %v", i, f.Index, err)
		}
	}
}
