package serve

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

func TestInboundPipePacksPayloadsInOrder(t *testing.T) {
	p := newInboundPipe(make(chan struct{}, 1))
	var acked []error
	ack := func(err error) { acked = append(acked, err) }
	payload := []byte("one")
	p.deliver(7, 0, run.Message{RouteID: 1, Payload: payload}, ack)
	copy(payload, "XXX") // the pipe copied it: the connector may reuse its buffer
	p.deliver(7, 0, run.Message{RouteID: 2, Payload: []byte("")}, ack)
	meta := &sdk.Metadata{Properties: []sdk.Property{{Name: "k", Value: "v"}}, ResponseTopic: "r"}
	p.deliver(9, 0, run.Message{RouteID: 3, Payload: []byte("three"), Metadata: meta}, ack)
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
	if len(b.Metadata) != 1 || b.Metadata[0].Index != 2 || b.Metadata[0].ResponseTopic != "r" || string(b.Metadata[0].Properties[0].Value) != "v" {
		t.Fatalf("metadata %v, want the third message's only", b.Metadata)
	}
	if nb, _ := p.take(); nb != nil {
		t.Fatal("second batch from one chunk")
	}
	p.recycle(c)
	p.deliver(1, 0, run.Message{RouteID: 4, Payload: []byte("x")}, ack)
	b, _ = p.take()
	if string(b.Data) != "x" || len(b.Sizes) != 1 || len(b.RouteIds) != 1 || b.RouteIds[0] != 4 || len(b.Metadata) != 0 {
		t.Fatalf("recycled chunk kept old messages: data %q routes %v metadata %v", b.Data, b.RouteIds, b.Metadata)
	}
}

func TestInboundPipeSplitsBatchesByCountAndBytes(t *testing.T) {
	p := newInboundPipe(make(chan struct{}, 1))
	nop := func(error) {}
	for range pluginwire.MaxBatchMessages + 1 {
		p.deliver(1, 0, run.Message{RouteID: 1, Payload: []byte{1}}, nop)
	}
	big := bytes.Repeat([]byte{2}, pluginwire.MaxBatchBytes-10)
	p.deliver(1, 0, run.Message{RouteID: 1, Payload: big}, nop)
	huge := bytes.Repeat([]byte{3}, pluginwire.MaxBatchBytes+1)
	p.deliver(1, 0, run.Message{RouteID: 1, Payload: huge}, nop)
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
	if !slices.Equal(counts, want) || !slices.Equal(sizes, wantBytes) {
		t.Fatalf("batches of %v messages, %v bytes; want %v, %v", counts, sizes, want, wantBytes)
	}
}

// A payload over the boundary's limit crosses as a marked prefix (the host
// dead-letters it); beyond MaxInboundPending messages the pipe refuses for now.
func TestInboundPipeOversizedAndOverflow(t *testing.T) {
	p := newInboundPipe(make(chan struct{}, 1))
	var got error
	p.deliver(1, 0, run.Message{Payload: make([]byte, pluginwire.MaxPayloadBytes+1)}, func(err error) { got = err })
	b, _ := p.take()
	if got != nil || b == nil || len(b.Data) != pluginwire.OversizedPrefixBytes || len(b.Oversized) != 1 ||
		b.Oversized[0].Index != 0 || b.Oversized[0].Size != pluginwire.MaxPayloadBytes+1 {
		t.Fatalf("oversized payload: ack %v, batch of %d bytes, oversized %v", got, len(b.Data), b.Oversized)
	}
	for range pluginwire.MaxInboundPending {
		p.deliver(1, 0, run.Message{Payload: []byte{0}}, func(error) {})
	}
	p.deliver(1, 0, run.Message{Payload: []byte{0}}, func(err error) { got = err })
	if sdk.KindOf(got) != sdk.KindBufferFull {
		t.Fatalf("message beyond MaxInboundPending: %v", got)
	}
}

// fakeData is the host's end of a Data stream in memory: frames the server sends
// arrive on sent, frames written to recv reach the server.
type fakeData struct {
	grpc.ServerStream
	ctx  context.Context
	recv chan *pb.HostFrame
	sent chan *pb.PluginFrame
}

func newFakeData(ctx context.Context) *fakeData {
	f := &fakeData{ctx: ctx, recv: make(chan *pb.HostFrame, 64), sent: make(chan *pb.PluginFrame, 64)}
	f.recv <- &pb.HostFrame{Open: true}
	return f
}

func (f *fakeData) Context() context.Context { return f.ctx }
func (f *fakeData) Send(p *pb.PluginFrame) error {
	// Copy what the host would have decoded: the server reuses acknowledged chunks.
	c := &pb.PluginFrame{Results: p.Results, Latest: p.Latest}
	if b := p.Inbound; b != nil {
		c.Inbound = &pb.InboundBatch{BatchId: b.BatchId, InstanceIds: slices.Clone(b.InstanceIds), RouteIds: slices.Clone(b.RouteIds),
			Sizes: slices.Clone(b.Sizes), Data: slices.Clone(b.Data)}
	}
	select {
	case f.sent <- c:
		return nil
	case <-f.ctx.Done():
		return f.ctx.Err()
	}
}
func (f *fakeData) Recv() (*pb.HostFrame, error) {
	select {
	case h := <-f.recv:
		return h, nil
	case <-f.ctx.Done():
		return nil, io.EOF
	}
}

// nextInbound returns the next inbound batch the server sends.
func (f *fakeData) nextInbound(t *testing.T) *pb.InboundBatch {
	t.Helper()
	for {
		select {
		case fr := <-f.sent:
			if fr.Inbound != nil {
				return fr.Inbound
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no inbound batch")
		}
	}
}

// The server's Data stream against an in-memory host: inbound messages arrive in
// order, each ack runs only after the host's acknowledgement with its own failure,
// held messages are settled by later acks, and messages unsettled when the stream
// breaks are acked with KindClosed.
func TestDataStreamInboundAcks(t *testing.T) {
	s := newServer(nil)
	ctx, cancel := context.WithCancel(context.Background())
	f := newFakeData(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Data(f) }()

	const n = 3*pluginwire.MaxBatchMessages + 5
	results := make([]chan error, n)
	for i := range n {
		results[i] = make(chan error, 1)
		s.inbound.deliver(1, 0, run.Message{RouteID: 1, Payload: []byte(strconv.Itoa(i))}, func(err error) { results[i] <- err })
	}
	type heldMsg struct {
		batch uint64
		index uint32
		seq   int
	}
	var held []heldMsg
	for next := 0; next < n; {
		b := f.nextInbound(t)
		off := 0
		ack := &pb.InboundAck{BatchId: b.BatchId}
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
			switch next % 1000 {
			case 7:
				ack.Failures = append(ack.Failures, &pb.Failure{Index: uint32(i), Error: &pb.Error{Code: 3, Message: "refused " + strconv.Itoa(next)}})
			case 8:
				ack.Held = append(ack.Held, uint32(i))
				held = append(held, heldMsg{b.BatchId, uint32(i), next})
			}
			next++
		}
		f.recv <- &pb.HostFrame{Acks: []*pb.InboundAck{ack}}
	}
	for i := range n {
		if i%1000 == 8 {
			continue
		}
		err := <-results[i]
		if (i%1000 == 7) != (err != nil) || err != nil && !strings.Contains(err.Error(), "refused "+strconv.Itoa(i)) {
			t.Fatalf("message %d acked with %v", i, err)
		}
	}
	for _, h := range held {
		select {
		case err := <-results[h.seq]:
			t.Fatalf("held message %d acked (%v) before it was settled", h.seq, err)
		default:
		}
	}
	// Settle the first held message; leave the others for the break.
	f.recv <- &pb.HostFrame{Acks: []*pb.InboundAck{{BatchId: held[0].batch, Settled: []uint32{held[0].index}}}}
	if err := <-results[held[0].seq]; err != nil {
		t.Fatalf("settled held message: %v", err)
	}
	cancel()
	<-done
	for _, h := range held[1:] {
		if err := <-results[h.seq]; sdk.KindOf(err) != sdk.KindClosed {
			t.Fatalf("held message %d at the break acked with %v, want sdk.KindClosed", h.seq, err)
		}
	}
}

// failingOnce publishes, but fails the message "fail" once with a retryable error
// and records every payload it was asked to publish.
type failingOnce struct {
	mu     sync.Mutex
	seen   []string
	failed bool
}

func (c *failingOnce) Scheme() string { return "fo" }
func (c *failingOnce) Build(context.Context, *sdk.BuildContext) (sdk.Connector, error) {
	return c, nil
}
func (c *failingOnce) Publish(_ context.Context, _ string, _ sdk.Config, p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, string(p))
	if string(p) == "fail" && !c.failed {
		c.failed = true
		return sdk.Errorf(sdk.KindConnectionFailed, "down")
	}
	return nil
}
func (c *failingOnce) Close(context.Context) error { return nil }

// After a retryable failure the rest of that epoch is not attempted; a batch of the
// next epoch is.
func TestDataStreamPublishEpochs(t *testing.T) {
	conn := &failingOnce{}
	s := newServer([]sdk.ConnectorBuilder{conn})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := s.Build(ctx, &pb.BuildRequest{InstanceId: 1, Name: "x", Scheme: "fo",
		Links: []*pb.Link{{Id: 5, Direction: uint32(sdk.Outbound), Resource: "d"}}}); err != nil {
		t.Fatal(err)
	}
	f := newFakeData(ctx)
	go s.Data(f)
	batch := func(id uint64, epoch uint32, payloads ...string) *pb.PublishBatch {
		var ps [][]byte
		for _, p := range payloads {
			ps = append(ps, []byte(p))
		}
		data, sizes := pluginwire.Pack(ps)
		return &pb.PublishBatch{BatchId: id, InstanceId: 1, LinkId: 5, Epoch: epoch, Data: data, Sizes: sizes}
	}
	f.recv <- &pb.HostFrame{Publish: []*pb.PublishBatch{batch(1, 0, "a", "fail", "b"), batch(2, 0, "c")}}
	f.recv <- &pb.HostFrame{Publish: []*pb.PublishBatch{batch(3, 1, "fail", "b", "c")}}
	results := map[uint64]*pb.BatchResult{}
	for len(results) < 3 {
		select {
		case fr := <-f.sent:
			for _, r := range fr.Results {
				results[r.BatchId] = r
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("results so far: %v", results)
		}
	}
	if r := results[1]; len(r.Failures) != 2 || r.Failures[0].Index != 1 || r.Failures[1].Index != 2 {
		t.Fatalf("batch 1: %v (want messages 1 and 2 failed)", r)
	}
	if r := results[2]; len(r.Failures) != 1 {
		t.Fatalf("batch 2 of the failed epoch: %v (want it failed unattempted)", r)
	}
	if r := results[3]; len(r.Failures) != 0 {
		t.Fatalf("batch 3 of the next epoch: %v", r)
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if !slices.Equal(conn.seen, []string{"a", "fail", "fail", "b", "c"}) {
		t.Fatalf("published %v", conn.seen)
	}
}

// deadlineProbe records the deadline each Publish's context carries.
type deadlineProbe struct{ deadlines chan time.Time }

func (c *deadlineProbe) Scheme() string { return "dl" }
func (c *deadlineProbe) Build(context.Context, *sdk.BuildContext) (sdk.Connector, error) {
	return c, nil
}
func (c *deadlineProbe) Publish(ctx context.Context, _ string, _ sdk.Config, _ []byte) error {
	dl, _ := ctx.Deadline()
	c.deadlines <- dl
	return nil
}
func (c *deadlineProbe) Close(context.Context) error { return nil }

// A batch's deadline reaches the connector's Publish as its context's deadline; a
// batch without one is published under the instance's context alone.
func TestDataStreamPublishDeadline(t *testing.T) {
	conn := &deadlineProbe{deadlines: make(chan time.Time, 2)}
	s := newServer([]sdk.ConnectorBuilder{conn})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := s.Build(ctx, &pb.BuildRequest{InstanceId: 1, Name: "x", Scheme: "dl",
		Links: []*pb.Link{{Id: 5, Direction: uint32(sdk.Outbound), Resource: "d"}}}); err != nil {
		t.Fatal(err)
	}
	f := newFakeData(ctx)
	go s.Data(f)
	want := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	data, sizes := pluginwire.Pack([][]byte{[]byte("a")})
	f.recv <- &pb.HostFrame{Publish: []*pb.PublishBatch{
		{BatchId: 1, InstanceId: 1, LinkId: 5, Data: data, Sizes: sizes, DeadlineUnixNano: want.UnixNano()},
		{BatchId: 2, InstanceId: 1, LinkId: 5, Data: data, Sizes: sizes},
	}}
	for i, w := range []time.Time{want, {}} {
		select {
		case got := <-conn.deadlines:
			if !got.Equal(w) {
				t.Errorf("batch %d: the publish's deadline is %v, want %v", i+1, got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("batch %d was not published", i+1)
		}
	}
}

// lingerProbe publishes at once and counts what it published.
type lingerProbe struct{ published chan string }

func (c *lingerProbe) Scheme() string { return "lp" }
func (c *lingerProbe) Build(context.Context, *sdk.BuildContext) (sdk.Connector, error) {
	return c, nil
}
func (c *lingerProbe) Publish(_ context.Context, _ string, _ sdk.Config, p []byte) error {
	c.published <- string(p)
	return nil
}
func (c *lingerProbe) Close(context.Context) error { return nil }

// plugin_linger: the first message after a quiet spell crosses at once; while
// messages flow, an instance's messages and results wait up to its linger and cross
// in one frame; a message of an instance without linger takes the waiting ones along,
// and a full batch goes at once.
func TestDataStreamLinger(t *testing.T) {
	const linger = time.Second
	conn := &lingerProbe{published: make(chan string, 4)}
	s := newServer([]sdk.ConnectorBuilder{conn})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, req := range []*pb.BuildRequest{
		{InstanceId: 1, Name: "slow", Scheme: "lp", LingerNanos: int64(linger),
			Links: []*pb.Link{{Id: 5, Direction: uint32(sdk.Outbound), Resource: "d"}}},
		{InstanceId: 2, Name: "quick", Scheme: "lp"},
	} {
		if _, err := s.Build(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	f := newFakeData(ctx)
	go s.Data(f)
	deliver := func(inst uint64, payload string) {
		sv := s.instance(inst)
		s.inbound.deliver(inst, s.due(sv.linger), run.Message{RouteID: 1, Payload: []byte(payload)}, func(error) {})
	}
	next := func(what string) (*pb.PluginFrame, time.Time) {
		t.Helper()
		select {
		case fr := <-f.sent:
			return fr, time.Now()
		case <-time.After(10 * time.Second):
			t.Fatalf("no frame with %s", what)
			return nil, time.Time{}
		}
	}
	payloads := func(fr *pb.PluginFrame) []string {
		var out []string
		if b := fr.Inbound; b != nil {
			for _, p := range pluginwire.SplitPayloads(b.Data, b.Sizes, nil) {
				out = append(out, string(p))
			}
		}
		return out
	}
	ack := func(fr *pb.PluginFrame) {
		f.recv <- &pb.HostFrame{Acks: []*pb.InboundAck{{BatchId: fr.Inbound.BatchId}}}
	}

	// Quiet until now: the first message goes at once.
	start := time.Now()
	deliver(1, "a")
	fr, at := next("a")
	if got := payloads(fr); !slices.Equal(got, []string{"a"}) || at.Sub(start) >= linger {
		t.Fatalf("first message: frame %v after %v, want [a] at once", got, at.Sub(start))
	}
	ack(fr)

	// Flowing: b, c, d and the result of a publish batch wait for one frame, sent no
	// sooner than b's linger.
	start = time.Now()
	deliver(1, "b")
	data, sizes := pluginwire.Pack([][]byte{[]byte("out")})
	f.recv <- &pb.HostFrame{Publish: []*pb.PublishBatch{{BatchId: 9, InstanceId: 1, LinkId: 5, Data: data, Sizes: sizes}}}
	if p := <-conn.published; p != "out" {
		t.Fatalf("published %q", p)
	}
	deliver(1, "c")
	deliver(1, "d")
	fr, at = next("b, c, d")
	if got := payloads(fr); !slices.Equal(got, []string{"b", "c", "d"}) || len(fr.Results) != 1 || fr.Results[0].BatchId != 9 {
		t.Fatalf("lingering frame: inbound %v, results %v; want [b c d] and batch 9's result in one frame", got, fr.Results)
	}
	if waited := at.Sub(start); waited < linger {
		t.Fatalf("the lingering frame left after %v, before the linger of %v", waited, linger)
	}
	ack(fr)

	// An instance without linger takes the waiting message along at once.
	start = time.Now()
	deliver(1, "e")
	deliver(2, "f")
	fr, at = next("e, f")
	if got := payloads(fr); !slices.Equal(got, []string{"e", "f"}) || at.Sub(start) >= linger {
		t.Fatalf("frame %v after %v, want [e f] before the linger of %v", got, at.Sub(start), linger)
	}
	ack(fr)

	// A full batch does not wait.
	start = time.Now()
	for i := range pluginwire.MaxBatchMessages + 1 {
		deliver(1, strconv.Itoa(i))
	}
	fr, at = next("a full batch")
	if got := payloads(fr); len(got) != pluginwire.MaxBatchMessages || at.Sub(start) >= linger {
		t.Fatalf("frame of %d messages after %v, want a full batch of %d before the linger of %v",
			len(got), at.Sub(start), pluginwire.MaxBatchMessages, linger)
	}
}
