package pluginwire

import (
	"fmt"

	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
)

// CheckInbound reports whether an inbound batch's columns agree: one instance id, one
// route id and one size per message, sizes that add up to the data, and metadata for
// messages of the batch in index order. A receiver
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
	for i, m := range b.Metadata {
		if m.Index >= uint32(n) || i > 0 && m.Index <= b.Metadata[i-1].Index {
			return fmt.Errorf("malformed inbound batch %d: metadata for message %d of %d out of order or range", b.BatchId, m.Index, n)
		}
	}
	return nil
}

// CheckPublish reports whether a publish batch's sizes add up to its data.
func CheckPublish(b *pb.PublishBatch) error {
	var total uint64
	for _, s := range b.Sizes {
		total += uint64(s)
	}
	if total != uint64(len(b.Data)) {
		return fmt.Errorf("malformed publish batch %d: sizes add up to %d bytes, data holds %d", b.BatchId, total, len(b.Data))
	}
	return nil
}

// SplitPayloads appends to dst the payloads packed back to back in data, as sizes
// says (checked by CheckInbound or CheckPublish); they share data's memory.
func SplitPayloads(data []byte, sizes []uint32, dst [][]byte) [][]byte {
	off := 0
	for _, size := range sizes {
		end := off + int(size)
		dst = append(dst, data[off:end:end])
		off = end
	}
	return dst
}

// Pack copies payloads back to back into one buffer and returns it with the sizes.
func Pack(payloads [][]byte) (data []byte, sizes []uint32) {
	n := 0
	for _, p := range payloads {
		n += len(p)
	}
	data = make([]byte, 0, n)
	sizes = make([]uint32, len(payloads))
	for i, p := range payloads {
		data = append(data, p...)
		sizes[i] = uint32(len(p))
	}
	return data, sizes
}
