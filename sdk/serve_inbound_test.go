package sdk

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
)

func TestInboundPipePacksPayloadsInOrder(t *testing.T) {
	p := newInboundPipe()
	var acked []error
	ack := func(err error) { acked = append(acked, err) }
	payload := []byte("one")
	p.deliver(7, Message{RouteID: 1, Payload: payload}, ack)
	copy(payload, "XXX") // the pipe copied it: the connector may reuse its buffer
	p.deliver(7, Message{RouteID: 2, Payload: []byte("")}, ack)
	p.deliver(9, Message{RouteID: 3, Payload: []byte("three")}, ack)
	b, c := p.take()
	if b == nil {
		t.Fatal("no batch")
	}
	if err := pluginwire.CheckInbound(b); err != nil {
		t.Fatal(err)
	}
	if string(b.Data) != "onethree" || len(b.Sizes) != 3 || b.Sizes[0] != 3 || b.Sizes[1] != 0 || b.Sizes[2] != 5 {
		t.Fatalf("data %q sizes %v", b.Data, b.Sizes)
	}
	if b.InstanceIds[0] != 7 || b.InstanceIds[2] != 9 || b.RouteIds[0] != 1 || b.RouteIds[1] != 2 || b.RouteIds[2] != 3 {
		t.Fatalf("instance ids %v route ids %v", b.InstanceIds, b.RouteIds)
	}
	if nb, _ := p.take(); nb != nil {
		t.Fatal("second batch from one chunk")
	}
	settle(c.acks, nil)
	if len(acked) != 3 || acked[0] != nil || acked[2] != nil {
		t.Fatalf("acks %v", acked)
	}
	p.recycle(c)
	p.deliver(1, Message{RouteID: 4, Payload: []byte("x")}, ack)
	b, _ = p.take()
	if string(b.Data) != "x" || len(b.Sizes) != 1 || len(b.RouteIds) != 1 || b.RouteIds[0] != 4 {
		t.Fatalf("recycled chunk kept old messages: data %q routes %v", b.Data, b.RouteIds)
	}
}

func TestInboundPipeSplitsBatchesByCountAndBytes(t *testing.T) {
	p := newInboundPipe()
	nop := func(error) {}
	for range pluginwire.MaxBatchMessages + 1 {
		p.deliver(1, Message{RouteID: 1, Payload: []byte{1}}, nop)
	}
	big := bytes.Repeat([]byte{2}, pluginwire.MaxBatchBytes-10)
	p.deliver(1, Message{RouteID: 1, Payload: big}, nop)
	huge := bytes.Repeat([]byte{3}, pluginwire.MaxBatchBytes+1)
	p.deliver(1, Message{RouteID: 1, Payload: huge}, nop)
	var counts, sizes []int
	for {
		b, _ := p.take()
		if b == nil {
			break
		}
		if err := pluginwire.CheckInbound(b); err != nil {
			t.Fatal(err)
		}
		counts, sizes = append(counts, len(b.Sizes)), append(sizes, len(b.Data))
	}
	// 1024 one-byte messages; then 1 byte + big (fits); then huge alone.
	want := []int{pluginwire.MaxBatchMessages, 2, 1}
	wantBytes := []int{pluginwire.MaxBatchMessages, 1 + len(big), len(huge)}
	if len(counts) != 3 || counts[0] != want[0] || counts[1] != want[1] || counts[2] != want[2] ||
		sizes[0] != wantBytes[0] || sizes[1] != wantBytes[1] || sizes[2] != wantBytes[2] {
		t.Fatalf("batches of %v messages, %v bytes; want %v, %v", counts, sizes, want, wantBytes)
	}
}

func TestInboundPipeRefusesOversizedAndOverflow(t *testing.T) {
	p := newInboundPipe()
	var got error
	p.deliver(1, Message{Payload: make([]byte, pluginwire.MaxPayloadBytes+1)}, func(err error) { got = err })
	if KindOf(got) != KindMessageTooLarge {
		t.Fatalf("oversized payload: %v", got)
	}
	for range pluginwire.MaxInboundPending {
		p.deliver(1, Message{Payload: []byte{0}}, func(error) {})
	}
	got = nil
	p.deliver(1, Message{Payload: []byte{0}}, func(err error) { got = err })
	if KindOf(got) != KindBufferFull {
		t.Fatalf("message beyond MaxInboundPending: %v", got)
	}
}

func TestSettleFailsOnlyListedMessages(t *testing.T) {
	var got [3]error
	acks := []func(error){
		func(err error) { got[0] = err }, func(err error) { got[1] = err }, func(err error) { got[2] = err },
	}
	settle(acks, []*pb.Failure{{Index: 1, Error: &pb.Error{Code: 3, Message: "bad value"}}})
	if got[0] != nil || got[2] != nil || got[1] == nil || !bytes.Contains([]byte(got[1].Error()), []byte("bad value")) {
		t.Fatalf("acks got %v", got)
	}
}

// fakeInbound is the host's end of an Inbound stream in memory: batches the server
// sends arrive on sent, acknowledgements written to acks reach the server.
type fakeInbound struct {
	grpc.ServerStream
	ctx  context.Context
	acks chan *pb.InboundAcks
	sent chan *pb.InboundBatch
}

func (f *fakeInbound) Context() context.Context { return f.ctx }
func (f *fakeInbound) Send(b *pb.InboundBatch) error {
	// Copy what the host would have decoded: the server reuses acknowledged chunks.
	c := &pb.InboundBatch{BatchId: b.BatchId, InstanceIds: slices.Clone(b.InstanceIds), RouteIds: slices.Clone(b.RouteIds),
		Sizes: slices.Clone(b.Sizes), Data: slices.Clone(b.Data)}
	select {
	case f.sent <- c:
		return nil
	case <-f.ctx.Done():
		return f.ctx.Err()
	}
}
func (f *fakeInbound) Recv() (*pb.InboundAcks, error) {
	select {
	case a := <-f.acks:
		return a, nil
	case <-f.ctx.Done():
		return nil, io.EOF
	}
}

// TestInboundStreamAcksAfterHostAndClosesOnBreak runs the server's Inbound against an
// in-memory host: messages arrive in order, each ack runs only after the host's
// acknowledgement with its own failure, and messages unacknowledged when the stream
// breaks are acked with KindClosed.
func TestInboundStreamAcksAfterHostAndClosesOnBreak(t *testing.T) {
	s := &server{inbound: newInboundPipe()}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeInbound{ctx: ctx, acks: make(chan *pb.InboundAcks, 8), sent: make(chan *pb.InboundBatch, 64)}
	f.acks <- &pb.InboundAcks{Open: true}
	done := make(chan error, 1)
	go func() { done <- s.Inbound(f) }()

	const n = 3*pluginwire.MaxBatchMessages + 5
	results := make([]chan error, n)
	for i := range n {
		results[i] = make(chan error, 1)
		s.inbound.deliver(1, Message{RouteID: 1, Payload: []byte(strconv.Itoa(i))}, func(err error) { results[i] <- err })
	}
	next := 0
	for next < n {
		b := <-f.sent
		if err := pluginwire.CheckInbound(b); err != nil {
			t.Fatal(err)
		}
		off := 0
		var fails []*pb.Failure
		for i, size := range b.Sizes {
			if got := string(b.Data[off : off+int(size)]); got != strconv.Itoa(next) {
				t.Fatalf("message %d arrived as %q", next, got)
			}
			off += int(size)
			select {
			case err := <-results[next]:
				t.Fatalf("message %d acked (%v) before the host acknowledged", next, err)
			default:
			}
			if next%1000 == 7 {
				fails = append(fails, &pb.Failure{Index: uint32(i), Error: &pb.Error{Code: 3, Message: "refused " + strconv.Itoa(next)}})
			}
			next++
		}
		f.acks <- &pb.InboundAcks{Acks: []*pb.InboundAck{{BatchId: b.BatchId, Failures: fails}}}
	}
	for i := range n {
		err := <-results[i]
		if (i%1000 == 7) != (err != nil) || err != nil && !strings.Contains(err.Error(), "refused "+strconv.Itoa(i)) {
			t.Fatalf("message %d acked with %v", i, err)
		}
	}

	// Unacknowledged when the stream breaks: KindClosed.
	left := make(chan error, 1)
	s.inbound.deliver(1, Message{RouteID: 1, Payload: []byte("last")}, func(err error) { left <- err })
	<-f.sent
	cancel()
	<-done
	if err := <-left; KindOf(err) != KindClosed {
		t.Fatalf("message in flight at the break acked with %v, want KindClosed", err)
	}
}
