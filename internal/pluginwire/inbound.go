package pluginwire

import (
	"fmt"

	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv1"
)

// CheckInbound reports whether an inbound batch's columns agree: one instance id, one
// route id and one size per message, and sizes that add up to the data. A receiver
// refuses every message of a batch that fails it.
func CheckInbound(b *pb.InboundBatch) error {
	n := len(b.Sizes)
	if len(b.InstanceIds) != n || len(b.RouteIds) != n {
		return fmt.Errorf("malformed inbound batch %d: %d sizes, %d instance ids, %d route ids", b.BatchId, n, len(b.InstanceIds), len(b.RouteIds))
	}
	var total uint64
	for _, s := range b.Sizes {
		total += uint64(s)
	}
	if total != uint64(len(b.Data)) {
		return fmt.Errorf("malformed inbound batch %d: sizes add up to %d bytes, data holds %d", b.BatchId, total, len(b.Data))
	}
	return nil
}
