package plugin

import (
	"strings"
	"testing"

	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// TestDeliverBatchSplitsDataAndReportsFailures checks the host's side of an inbound
// batch without a process: payloads cut from the packed data in order, failures
// only for refused messages and unknown instances, a malformed batch refused whole.
func TestDeliverBatchSplitsDataAndReportsFailures(t *testing.T) {
	type got struct {
		link    uint32
		payload string
	}
	var seen []got
	p := &Process{insts: map[uint64]*Instance{}}
	p.insts[1] = &Instance{p: p, id: 1, spec: InstanceSpec{Name: "a", Deliver: func(link uint32, payload []byte) error {
		seen = append(seen, got{link, string(payload)})
		if string(payload) == "bad" {
			return sdk.Errorf(sdk.KindRejected, "cannot decode %q", payload)
		}
		return nil
	}}}
	b := &pb.InboundBatch{
		BatchId:     3,
		InstanceIds: []uint64{1, 1, 2, 1, 1},
		RouteIds:    []uint32{10, 11, 10, 12, 13},
		Sizes:       []uint32{3, 0, 2, 3, 4},
		Data:        []byte("onexxbadfour"),
	}
	fs := p.deliverBatch(b)
	want := []got{{10, "one"}, {11, ""}, {12, "bad"}, {13, "four"}}
	if len(seen) != len(want) {
		t.Fatalf("delivered %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("delivered %v, want %v", seen, want)
		}
	}
	if len(fs) != 2 || fs[0].Index != 2 || fs[1].Index != 3 {
		t.Fatalf("failures %v, want indexes 2 and 3", fs)
	}
	if err := errorFromPB(fs[0].Error); sdk.KindOf(err) != sdk.KindClosed || !strings.Contains(err.Error(), "no instance 2") {
		t.Fatalf("unknown instance: %v", err)
	}
	if err := errorFromPB(fs[1].Error); sdk.KindOf(err) != sdk.KindRejected || !strings.Contains(err.Error(), `cannot decode "bad"`) {
		t.Fatalf("refused message: %v", err)
	}

	seen = nil
	b.Sizes[4] = 5 // sizes no longer add up to the data
	fs = p.deliverBatch(b)
	if len(seen) != 0 {
		t.Fatalf("malformed batch delivered %v", seen)
	}
	if len(fs) != 5 {
		t.Fatalf("malformed batch: %d failures, want 5", len(fs))
	}
	for i, f := range fs {
		err := errorFromPB(f.Error)
		if f.Index != uint32(i) || sdk.KindOf(err) != sdk.KindRejected || !strings.Contains(err.Error(), "malformed inbound batch 3") {
			t.Fatalf("failure %d: index %d, %v", i, f.Index, err)
		}
	}
}
