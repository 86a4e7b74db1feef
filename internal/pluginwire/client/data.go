package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Failure is the error of one message of an outbound batch.
type Failure struct {
	Index int
	Err   error
}

// Batch is consecutive values of one outbound link.
type Batch struct {
	Instance uint64
	Link     uint32
	// Epoch is the link's retry epoch (see PublishBatch in plugin.proto).
	Epoch    uint32
	Payloads [][]byte
	// Deadline, when not zero, bounds the publishing in the plugin: the connector's
	// Publish gets a context that ends then.
	Deadline time.Time
	// Done runs once with the failed messages (none: all published), on the stream's
	// receiving goroutine, so it must not block. When the stream dies every message
	// of a batch without a result fails with KindClosed.
	Done func([]Failure)
}

// Feed supplies one outbound link's batches. Ready tells the stream a feed has
// something to send; the stream's writer then calls Cut while it builds a frame, so a
// batch holds whatever collected meanwhile.
type Feed interface {
	// Cut returns the next batch of at most maxMsgs payloads (and about maxBytes),
	// or ok == false when nothing is to be sent now. It runs on the writer's
	// goroutine and must not block.
	Cut(maxMsgs, maxBytes int) (b Batch, ok bool)
	// Abandon tells a feed that was ready when the stream died that it will not be
	// cut: its values must be sent again on another stream. It must not block.
	Abandon(err error)
}

// Inbound is one inbound message for the host.
type Inbound struct {
	Instance uint64
	Route    uint32
	Payload  []byte
	// Size is the payload's full size; more than len(Payload) for a message that
	// exceeded the boundary's limit and crossed as a prefix.
	Size int
	// Metadata is what the message carried beside its payload (MQTT 5 properties),
	// or nil.
	Metadata *sdk.Metadata
}

// Handler takes what the plugin sends the host.
type Handler struct {
	// Deliver takes an inbound message and returns its outcome (done == true), or
	// done == false to settle it later by calling settle exactly once (a full record
	// holds it). It runs on the stream's receiving goroutine, so it must not block;
	// Payload shares memory with the rest of its batch and is never reused.
	Deliver func(m Inbound, settle func(error)) (err error, done bool)
	// Latest answers sdk.Host.Latest for an instance.
	Latest func(ctx context.Context, instance uint64, resource string) ([]byte, error)
}

// Data is the open data stream of one plugin process.
type Data struct {
	c      *Conn
	h      Handler
	stream pb.Connector_DataClient
	cancel context.CancelFunc
	wake   chan struct{}
	dead   chan struct{}

	handling  atomic.Bool // the receiver is handling a frame
	kickLater atomic.Bool // a kick came meanwhile

	mu       sync.Mutex
	ready    []Feed
	isReady  map[Feed]bool
	inflight map[uint64]Batch
	nextID   uint64
	acks     []*pb.InboundAck
	later    map[uint64]*pb.InboundAck // follow-up settlements, by batch
	answers  []*pb.LatestResponse
	cause    error
}

// OpenData opens the data stream.
func (c *Conn) OpenData(h Handler) (*Data, error) {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.rpc.Data(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("plugin %s: open data stream: %w", c.info.Name, err)
	}
	if err := stream.Send(&pb.HostFrame{Open: true}); err != nil {
		cancel()
		return nil, fmt.Errorf("plugin %s: open data stream: %w", c.info.Name, err)
	}
	d := &Data{
		c: c, h: h, stream: stream, cancel: cancel,
		wake:     make(chan struct{}, 1),
		dead:     make(chan struct{}),
		isReady:  map[Feed]bool{},
		inflight: map[uint64]Batch{},
		later:    map[uint64]*pb.InboundAck{},
	}
	go d.recvLoop()
	go d.writeLoop()
	return d, nil
}

// Dead is closed when the stream ended; Err says why.
func (d *Data) Dead() <-chan struct{} { return d.dead }

// Err returns why the stream ended, or nil while it is open.
func (d *Data) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cause
}

// Close ends the stream; batches without a result fail with KindClosed.
func (d *Data) Close() { d.die(errors.New("closed by the host")) }

// Ready schedules f: the writer cuts its batches into the next frame. It fails
// (KindConnectionFailed) once the stream is dead.
func (d *Data) Ready(f Feed) error {
	d.mu.Lock()
	if d.cause != nil {
		err := d.cause
		d.mu.Unlock()
		return sdk.Wrap(sdk.KindConnectionFailed, fmt.Errorf("plugin %s: %w", d.c.info.Name, err))
	}
	if !d.isReady[f] {
		d.isReady[f] = true
		d.ready = append(d.ready, f)
	}
	d.mu.Unlock()
	d.kick()
	return nil
}

// kick wakes the writer, unless the receiver is handling a frame: then the wake is
// kept for the end of the frame, so what the frame causes (its acknowledgement, the
// values it put in records that links now send) leaves in one frame.
func (d *Data) kick() {
	if d.handling.Load() {
		d.kickLater.Store(true)
		if d.handling.Load() || !d.kickLater.Swap(false) {
			return // the receiver wakes the writer when the frame is handled
		}
	}
	d.wakeWriter()
}

func (d *Data) wakeWriter() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// die ends the stream once and fails every batch without a result.
func (d *Data) die(cause error) {
	d.mu.Lock()
	if d.cause != nil {
		d.mu.Unlock()
		return
	}
	d.cause = cause
	left := d.inflight
	d.inflight = map[uint64]Batch{}
	ready := d.ready
	d.ready, d.isReady = nil, map[Feed]bool{}
	d.mu.Unlock()
	d.cancel()
	close(d.dead)
	err := sdk.Errorf(sdk.KindClosed, "plugin %s: data stream ended before a result: %v", d.c.info.Name, cause)
	for _, f := range ready {
		f.Abandon(err)
	}
	ids := make([]uint64, 0, len(left))
	for id := range left {
		ids = append(ids, id)
	}
	slices.Sort(ids) // in the order they were sent: a link's results come in order
	for _, id := range ids {
		b := left[id]
		fs := make([]Failure, len(b.Payloads))
		for i := range fs {
			fs[i] = Failure{Index: i, Err: err}
		}
		b.Done(fs)
	}
}

// frameBudget bounds the payload bytes of one frame, well below MaxMessageBytes.
const frameBudget = 4 * pluginwire.MaxBatchBytes

// writeLoop sends a frame whenever something is ready: whatever collected while the
// previous one was being written goes in the next.
func (d *Data) writeLoop() {
	for {
		select {
		case <-d.wake:
		case <-d.dead:
			return
		}
		for {
			f := d.frame()
			if f == nil {
				break
			}
			if err := d.stream.Send(f); err != nil {
				d.die(fmt.Errorf("send: %w", err))
				return
			}
		}
	}
}

// frame builds the next frame from the ready feeds, acknowledgements and answers;
// nil when nothing is ready.
func (d *Data) frame() *pb.HostFrame {
	d.mu.Lock()
	f := &pb.HostFrame{Acks: d.acks, Latest: d.answers}
	d.acks, d.answers = nil, nil
	for id, a := range d.later {
		f.Acks = append(f.Acks, a)
		delete(d.later, id)
	}
	feeds := d.ready
	d.ready = nil
	clear(d.isReady)
	d.mu.Unlock()

	budget := frameBudget
	var again []Feed
	for i, feed := range feeds {
		if budget <= 0 {
			again = append(again, feeds[i:]...)
			break
		}
		b, ok := feed.Cut(pluginwire.MaxBatchMessages, min(budget, pluginwire.MaxBatchBytes))
		if !ok {
			continue
		}
		data, sizes := pluginwire.Pack(b.Payloads)
		budget -= len(data)
		d.mu.Lock()
		if d.cause != nil {
			d.mu.Unlock()
			d.failLater(b)
			feed.Abandon(sdk.Errorf(sdk.KindClosed, "plugin %s: data stream ended", d.c.info.Name))
			continue
		}
		d.nextID++
		id := d.nextID
		d.inflight[id] = b
		d.mu.Unlock()
		f.Publish = append(f.Publish, &pb.PublishBatch{BatchId: id, InstanceId: b.Instance, LinkId: b.Link,
			Epoch: b.Epoch, Data: data, Sizes: sizes, DeadlineUnixNano: unixNano(b.Deadline)})
		again = append(again, feed) // it may have more
	}
	if len(again) > 0 {
		d.mu.Lock()
		dead := d.cause
		if dead == nil {
			for _, feed := range again {
				if !d.isReady[feed] {
					d.isReady[feed] = true
					d.ready = append(d.ready, feed)
				}
			}
		}
		d.mu.Unlock()
		if dead != nil {
			for _, feed := range again {
				feed.Abandon(sdk.Errorf(sdk.KindClosed, "plugin %s: data stream ended: %v", d.c.info.Name, dead))
			}
		}
		d.kick()
	}
	if len(f.Publish) == 0 && len(f.Acks) == 0 && len(f.Latest) == 0 {
		return nil
	}
	return f
}

// failLater fails a batch cut after the stream died.
func (d *Data) failLater(b Batch) {
	err := sdk.Errorf(sdk.KindClosed, "plugin %s: data stream ended", d.c.info.Name)
	fs := make([]Failure, len(b.Payloads))
	for i := range fs {
		fs[i] = Failure{Index: i, Err: err}
	}
	b.Done(fs)
}

// recvLoop handles plugin frames until the stream ends.
func (d *Data) recvLoop() {
	for {
		f, err := d.stream.Recv()
		if err != nil {
			d.die(fmt.Errorf("receive: %w", err))
			return
		}
		d.handling.Store(true)
		for _, r := range f.Results {
			d.settleBatch(r)
		}
		if f.Inbound != nil {
			d.deliverBatch(f.Inbound)
		}
		for _, q := range f.Latest {
			d.answer(q)
		}
		d.handling.Store(false)
		if d.kickLater.Swap(false) {
			d.wakeWriter()
		}
	}
}

func (d *Data) settleBatch(r *pb.BatchResult) {
	d.mu.Lock()
	b, ok := d.inflight[r.BatchId]
	delete(d.inflight, r.BatchId)
	d.mu.Unlock()
	if !ok {
		return
	}
	var fs []Failure
	for _, f := range r.Failures {
		fs = append(fs, Failure{Index: int(f.Index), Err: pluginwire.ErrorFromPB(f.Error)})
	}
	b.Done(fs)
}

// deliverBatch hands every message of an inbound batch to Deliver, in order, and
// queues the batch's first acknowledgement; held messages are settled later.
func (d *Data) deliverBatch(b *pb.InboundBatch) {
	ack := &pb.InboundAck{BatchId: b.BatchId}
	if err := pluginwire.CheckInbound(b); err != nil {
		e := pluginwire.ErrorToPB(sdk.Wrap(sdk.KindRejected, err))
		for i := range max(len(b.Sizes), len(b.InstanceIds), len(b.RouteIds)) {
			ack.Failures = append(ack.Failures, &pb.Failure{Index: uint32(i), Error: e})
		}
		d.queueAck(ack)
		return
	}
	full := map[uint32]uint64{}
	for _, o := range b.Oversized {
		full[o.Index] = o.Size
	}
	meta := b.Metadata // in index order (CheckInbound)
	off := 0
	for i, size := range b.Sizes {
		end := off + int(size)
		m := Inbound{Instance: b.InstanceIds[i], Route: b.RouteIds[i], Payload: b.Data[off:end:end], Size: int(size)}
		off = end
		if s, ok := full[uint32(i)]; ok {
			m.Size = int(s)
		}
		if len(meta) > 0 && meta[0].Index == uint32(i) {
			m.Metadata = pluginwire.MetadataFromPB(meta[0])
			meta = meta[1:]
		}
		idx := uint32(i)
		err, done := d.h.Deliver(m, func(err error) { d.settleLater(b.BatchId, idx, err) })
		if !done {
			ack.Held = append(ack.Held, idx)
			continue
		}
		if err != nil {
			ack.Failures = append(ack.Failures, &pb.Failure{Index: idx, Error: pluginwire.ErrorToPB(err)})
		}
	}
	d.queueAck(ack)
}

func (d *Data) queueAck(a *pb.InboundAck) {
	d.mu.Lock()
	d.acks = append(d.acks, a)
	d.mu.Unlock()
	d.kick()
}

// settleLater queues the settlement of a held message.
func (d *Data) settleLater(batch uint64, idx uint32, err error) {
	d.mu.Lock()
	a := d.later[batch]
	if a == nil {
		a = &pb.InboundAck{BatchId: batch}
		d.later[batch] = a
	}
	a.Settled = append(a.Settled, idx)
	if err != nil {
		a.Failures = append(a.Failures, &pb.Failure{Index: idx, Error: pluginwire.ErrorToPB(err)})
	}
	d.mu.Unlock()
	d.kick()
}

// answer answers a Latest question.
func (d *Data) answer(q *pb.LatestRequest) {
	r := &pb.LatestResponse{Id: q.Id}
	if d.h.Latest == nil {
		r.Error = pluginwire.ErrorToPB(sdk.Errorf(sdk.KindRejected, "the host serves no latest values"))
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), d.c.opts.CallTimeout)
		v, err := d.h.Latest(ctx, q.InstanceId, q.Resource)
		cancel()
		r.Value, r.Error = v, pluginwire.ErrorToPB(err)
	}
	d.mu.Lock()
	d.answers = append(d.answers, r)
	d.mu.Unlock()
	d.kick()
}

// unixNano is t as Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
