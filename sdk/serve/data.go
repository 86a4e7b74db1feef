package serve

import (
	"context"
	"sync"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Data serves the one data stream: outbound batches go to their link's worker and
// inbound acknowledgements settle their messages as frames arrive, while the writer
// sends results and inbound batches, as many as are ready, in one frame.
func (s *server) Data(stream pb.Connector_DataServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if !first.Open {
		return pluginwire.ToStatus(sdk.Errorf(sdk.KindInvalidConfig, "data stream: the first frame must open it"))
	}
	d := &dataConn{
		s:        s,
		stream:   stream,
		inflight: map[uint64]*inboundChunk{},
		done:     make(chan struct{}),
	}
	if !s.open.CompareAndSwap(false, true) {
		return pluginwire.ToStatus(sdk.Errorf(sdk.KindInvalidConfig, "data stream: one is open already"))
	}
	defer s.open.Store(false)
	recvErr := make(chan error, 1)
	go func() { recvErr <- d.recvLoop() }()
	err = d.writeLoop(recvErr)
	close(d.done)
	d.failInflight()
	s.host.failAll(sdk.Errorf(sdk.KindConnectionFailed, "the host's data stream closed"))
	return err
}

// dataConn is one Data stream.
type dataConn struct {
	s      *server
	stream pb.Connector_DataServer
	done   chan struct{} // closed when the stream ended

	mu         sync.Mutex
	results    []*pb.BatchResult
	resultsDue int64                    // when the first of results must be sent (monoNow)
	inflight   map[uint64]*inboundChunk // sent, not every message settled
	window     int                      // sent batches not acknowledged a first time
	nextID     uint64
}

// recvLoop reads host frames until the stream ends.
func (d *dataConn) recvLoop() error {
	for {
		f, err := d.stream.Recv()
		if err != nil {
			return err
		}
		for _, b := range f.Publish {
			d.dispatch(b)
		}
		for _, a := range f.Acks {
			d.settle(a)
		}
		for _, r := range f.Latest {
			d.s.host.answer(r)
		}
	}
}

// writeLoop sends frames until the stream or the receiver ends; when what is ready
// may linger (plugin_linger), it waits until the first of it is due.
func (d *dataConn) writeLoop(recvErr <-chan error) error {
	ctx := d.stream.Context()
	due := time.NewTimer(time.Hour)
	due.Stop()
	defer due.Stop()
	for {
		select {
		case <-d.s.wake:
		case <-due.C:
		case err := <-recvErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
		for {
			f, wait := d.frame()
			if f == nil {
				if wait > 0 {
					due.Reset(wait)
				}
				break
			}
			if err := d.stream.Send(f); err != nil {
				return err
			}
			d.s.lastSent.Store(monoNow())
			d.sent(f)
		}
	}
}

// frame collects every ready result and, when the host has acknowledged every inbound
// batch sent (or a full batch waits and the window allows), one inbound batch; nil
// when nothing is ready, with how long until something lingering is due (0: nothing
// waits). Once anything is due, everything ready goes with it.
func (d *dataConn) frame() (*pb.PluginFrame, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	latest := d.s.host.take() // questions: a connector waits for each answer
	chunkDue, full, waiting := d.s.inbound.head()
	sendInbound := d.window == 0 || d.window < pluginwire.MaxInboundInFlight && full
	if len(latest) == 0 {
		now, next := monoNow(), int64(0)
		if len(d.results) > 0 {
			next = d.resultsDue
		}
		if waiting && sendInbound {
			if full {
				chunkDue = now
			}
			if next == 0 || chunkDue < next {
				next = chunkDue
			}
		}
		if next > now {
			return nil, time.Duration(next - now)
		}
	}
	f := &pb.PluginFrame{Results: d.results, Latest: latest}
	d.results, d.resultsDue = nil, 0
	if sendInbound {
		if b, c := d.s.inbound.take(); b != nil {
			d.nextID++
			b.BatchId = d.nextID
			d.inflight[b.BatchId] = c
			d.window++
			f.Inbound = b
		}
	}
	if len(f.Results) == 0 && f.Inbound == nil && len(f.Latest) == 0 {
		return nil, 0
	}
	return f, 0
}

// sent marks the frame's inbound batch as sent: gRPC no longer reads its columns,
// so the chunk is recycled once every message is settled too.
func (d *dataConn) sent(f *pb.PluginFrame) {
	if f.Inbound == nil {
		return
	}
	d.mu.Lock()
	c := d.inflight[f.Inbound.BatchId]
	finished := c != nil && c.unsettled == 0
	if c != nil {
		c.sent = true
	}
	if finished {
		delete(d.inflight, f.Inbound.BatchId)
	}
	d.mu.Unlock()
	if finished {
		d.s.inbound.recycle(c)
	}
}

// addResult queues a batch result of an instance with linger and wakes the writer
// when the result is due before anything else waiting.
func (d *dataConn) addResult(r *pb.BatchResult, linger int64) {
	due := d.s.due(linger)
	d.mu.Lock()
	d.results = append(d.results, r)
	sooner := d.resultsDue == 0 || due < d.resultsDue
	if sooner {
		d.resultsDue = due
	}
	d.mu.Unlock()
	if sooner {
		d.s.wakeWriter()
	}
}

// dispatch hands a publish batch to its link's worker.
func (d *dataConn) dispatch(b *pb.PublishBatch) {
	sv := d.s.instance(b.InstanceId)
	if sv == nil {
		d.addResult(failAll(b, sdk.Errorf(sdk.KindClosed, "no instance %d (closed or never built)", b.InstanceId)), 0)
		return
	}
	if err := pluginwire.CheckPublish(b); err != nil {
		d.addResult(failAll(b, sdk.Wrap(sdk.KindRejected, err)), 0)
		return
	}
	if err := sv.enqueue(publishJob{batch: b, conn: d}); err != nil {
		d.addResult(failAll(b, err), 0)
	}
}

// settle runs the acks an InboundAck settles and recycles finished chunks.
func (d *dataConn) settle(a *pb.InboundAck) {
	d.mu.Lock()
	c := d.inflight[a.BatchId]
	if c == nil {
		d.mu.Unlock()
		return
	}
	var acks []func(error)
	var idx []uint32
	if len(a.Settled) == 0 { // the first ack: all but the held ones
		d.window--
		held := make(map[uint32]bool, len(a.Held))
		for _, h := range a.Held {
			held[h] = true
		}
		for i := range c.acks {
			if !held[uint32(i)] {
				idx = append(idx, uint32(i))
			}
		}
	} else {
		idx = a.Settled
	}
	for _, i := range idx {
		if int(i) < len(c.acks) && c.acks[i] != nil {
			acks = append(acks, c.acks[i])
			c.acks[i] = nil
			c.unsettled--
		} else {
			acks = append(acks, nil)
		}
	}
	finished := c.unsettled == 0 && c.sent
	if finished {
		delete(d.inflight, a.BatchId)
	}
	d.mu.Unlock()
	var failed map[uint32]error
	if len(a.Failures) > 0 {
		failed = make(map[uint32]error, len(a.Failures))
		for _, f := range a.Failures {
			failed[f.Index] = pluginwire.ErrorFromPB(f.Error)
		}
	}
	for n, ack := range acks {
		if ack != nil {
			ack(failed[idx[n]])
		}
	}
	if finished {
		d.s.inbound.recycle(c)
	}
	if len(a.Settled) == 0 {
		d.s.wakeWriter() // the window has room again
	}
}

// failInflight acks every message the host had not settled when the stream ended
// with KindClosed, so its connector does not commit it and the outside system
// delivers it again.
func (d *dataConn) failInflight() {
	d.mu.Lock()
	left := d.inflight
	d.inflight = map[uint64]*inboundChunk{}
	d.mu.Unlock()
	closed := sdk.Errorf(sdk.KindClosed, "the host's data stream closed before it acknowledged")
	for _, c := range left {
		for i, ack := range c.acks {
			if ack != nil {
				c.acks[i] = nil
				ack(closed)
			}
		}
	}
}

// publishJob is one outbound batch for a link worker and the stream its result goes to.
type publishJob struct {
	batch *pb.PublishBatch
	conn  *dataConn
}

// linkWorker publishes the batches of one link in order.
type linkWorker struct {
	mu    sync.Mutex
	queue []publishJob
	wake  chan struct{}
}

// enqueue hands a job to its link's worker, starting the worker on first use.
func (sv *served) enqueue(j publishJob) error {
	// The job is queued under sv.mu, which close holds to cancel: a worker that sees
	// the cancellation finds every job queued before it.
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.ctx.Err() != nil {
		return sdk.Errorf(sdk.KindClosed, "instance %q is closed", sv.name)
	}
	w := sv.workers[j.batch.LinkId]
	if w == nil {
		w = &linkWorker{wake: make(chan struct{}, 1)}
		sv.workers[j.batch.LinkId] = w
		go sv.work(j.batch.LinkId, w)
	}
	w.mu.Lock()
	w.queue = append(w.queue, j)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// work publishes the link's queued batches until the instance closes; batches left
// then fail with KindClosed.
func (sv *served) work(link uint32, w *linkWorker) {
	var (
		payloads [][]byte
		errs     []error
	)
	for {
		w.mu.Lock()
		jobs := w.queue
		w.queue = nil
		w.mu.Unlock()
		for _, j := range jobs {
			b := j.batch
			if sv.ctx.Err() != nil {
				j.conn.addResult(failAll(b, sdk.Errorf(sdk.KindClosed, "instance %q is closed", sv.name)), 0)
				continue
			}
			payloads = pluginwire.SplitPayloads(b.Data, b.Sizes, payloads[:0])
			errs = append(errs[:0], make([]error, len(payloads))...)
			ctx, cancel := batchContext(sv.ctx, b)
			sv.inst.PublishBatch(ctx, link, b.Epoch, payloads, errs)
			cancel()
			j.conn.addResult(batchResult(b.BatchId, errs), sv.linger)
		}
		select {
		case <-w.wake:
		case <-sv.ctx.Done():
			w.mu.Lock()
			left := w.queue
			w.queue = nil
			w.mu.Unlock()
			for _, j := range left {
				j.conn.addResult(failAll(j.batch, sdk.Errorf(sdk.KindClosed, "instance %q is closed", sv.name)), 0)
			}
			return
		}
	}
}

// batchContext is the context a batch is published under: the instance's, ending at
// the batch's deadline when the host gave one.
func batchContext(ctx context.Context, b *pb.PublishBatch) (context.Context, context.CancelFunc) {
	if b.DeadlineUnixNano == 0 {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, time.Unix(0, b.DeadlineUnixNano))
}

// batchResult lists the failed messages of a batch.
func batchResult(id uint64, errs []error) *pb.BatchResult {
	r := &pb.BatchResult{BatchId: id}
	for i, err := range errs {
		if err != nil {
			r.Failures = append(r.Failures, &pb.Failure{Index: uint32(i), Error: pluginwire.ErrorToPB(err)})
		}
	}
	return r
}

// failAll is the result of a batch none of whose messages could be published.
func failAll(b *pb.PublishBatch, err error) *pb.BatchResult {
	e := pluginwire.ErrorToPB(err)
	fs := make([]*pb.Failure, len(b.Sizes))
	for i := range fs {
		fs[i] = &pb.Failure{Index: uint32(i), Error: e}
	}
	return &pb.BatchResult{BatchId: b.BatchId, Failures: fs}
}
