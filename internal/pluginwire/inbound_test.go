package pluginwire

import (
	"strings"
	"testing"

	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
)

func TestCheckInbound(t *testing.T) {
	ok := &pb.InboundBatch{InstanceIds: []uint64{1, 1}, RouteIds: []uint32{1, 2}, Sizes: []uint32{2, 0}, Data: []byte("ab")}
	if err := CheckInbound(ok); err != nil {
		t.Fatalf("well-formed batch: %v", err)
	}
	if err := CheckInbound(&pb.InboundBatch{}); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	for _, tc := range []struct {
		name string
		b    *pb.InboundBatch
		want string
	}{
		{"missing route id", &pb.InboundBatch{BatchId: 4, InstanceIds: []uint64{1, 1}, RouteIds: []uint32{1}, Sizes: []uint32{1, 1}, Data: []byte("ab")},
			"malformed inbound batch 4: 2 sizes, 2 instance ids, 1 route ids"},
		{"sizes beyond data", &pb.InboundBatch{BatchId: 5, InstanceIds: []uint64{1}, RouteIds: []uint32{1}, Sizes: []uint32{3}, Data: []byte("ab")},
			"malformed inbound batch 5: sizes add up to 3 bytes, data holds 2"},
		{"data beyond sizes", &pb.InboundBatch{BatchId: 6, Data: []byte("ab")},
			"malformed inbound batch 6: sizes add up to 0 bytes, data holds 2"},
		{"size overflow", &pb.InboundBatch{BatchId: 7, InstanceIds: []uint64{1, 1}, RouteIds: []uint32{1, 1}, Sizes: []uint32{1 << 31, 1 << 31}, Data: nil},
			"malformed inbound batch 7: sizes add up to 4294967296 bytes, data holds 0"},
		{"metadata beyond the batch", &pb.InboundBatch{BatchId: 8, InstanceIds: []uint64{1}, RouteIds: []uint32{1}, Sizes: []uint32{0}, Metadata: []*pb.Metadata{{Index: 1}}},
			"malformed inbound batch 8: metadata for message 1 of 1 out of order or range"},
		{"metadata twice", &pb.InboundBatch{BatchId: 9, InstanceIds: []uint64{1, 1}, RouteIds: []uint32{1, 1}, Sizes: []uint32{0, 0}, Metadata: []*pb.Metadata{{Index: 1}, {Index: 1}}},
			"malformed inbound batch 9: metadata for message 1 of 2 out of order or range"},
	} {
		err := CheckInbound(tc.b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}
