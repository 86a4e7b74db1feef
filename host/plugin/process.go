package plugin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv1"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Process is one supervised plugin process and the connector instances it serves.
// Its methods are safe for concurrent use.
type Process struct {
	path string
	cfg  Config
	log  hclog.Logger

	slots chan struct{} // outbound window: one token per batch in flight

	mu        sync.Mutex
	gen       *generation   // the live process; nil while down
	up        chan struct{} // closed while gen != nil
	info      Info
	failed    error // set when the plugin was given up or closed
	closing   bool
	insts     map[uint64]*Instance
	nextInst  uint64
	inflight  map[uint64]*batch
	nextBatch uint64
	restarts  []time.Time
	done      chan struct{} // closed when supervision ended
	closeCh   chan struct{} // closed when Close begins
}

// batch is one outbound batch waiting for its result.
type batch struct {
	msg  *pb.PublishBatch
	done func([]Failure)
}

// Failure is the error of one message of an outbound batch.
type Failure struct {
	Index int
	Err   error
}

// generation is one run of the plugin process with its streams.
type generation struct {
	*conn
	ctx      context.Context
	cancel   context.CancelFunc
	brokerID uint32

	sendMu sync.Mutex
	pub    pb.Connector_PublishClient
	ackMu  sync.Mutex
	inb    pb.Connector_InboundClient

	deadOnce sync.Once
	dead     chan struct{}
	cause    error
}

// die marks the generation dead once, with the first cause.
func (g *generation) die(err error) {
	g.deadOnce.Do(func() {
		g.cause = err
		close(g.dead)
	})
}

// Start launches the plugin at path and supervises it until Close.
func Start(ctx context.Context, path string, cfg Config) (*Process, error) {
	cfg = cfg.withDefaults()
	p := &Process{
		path:     path,
		cfg:      cfg,
		slots:    make(chan struct{}, pluginwire.MaxBatchesInFlight),
		up:       make(chan struct{}),
		insts:    map[uint64]*Instance{},
		inflight: map[uint64]*batch{},
		done:     make(chan struct{}),
		closeCh:  make(chan struct{}),
	}
	c, err := launch(ctx, path, cfg)
	if err != nil {
		return nil, err
	}
	p.info = c.info
	p.log = cfg.Logger.With("plugin", c.info.Name)
	g, err := p.attach(ctx, c)
	if err != nil {
		c.client.Kill()
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	p.mu.Lock()
	p.gen = g
	close(p.up)
	p.mu.Unlock()
	go p.supervise(g)
	return p, nil
}

// Info returns what the plugin said about itself.
func (p *Process) Info() Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// Pid returns the process id of the running plugin, or 0 while it is down.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen == nil {
		return 0
	}
	return p.gen.pid
}

// attach opens the streams of a freshly launched process and serves HostControl.
func (p *Process) attach(ctx context.Context, c *conn) (*generation, error) {
	gctx, cancel := context.WithCancel(context.Background())
	g := &generation{conn: c, ctx: gctx, cancel: cancel, dead: make(chan struct{})}
	g.brokerID = c.rpc.Broker.NextId()
	go c.rpc.Broker.AcceptAndServe(g.brokerID, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(append(opts, pluginwire.ServerOptions()...)...)
		pb.RegisterHostControlServer(s, &hostControl{p: p})
		return s
	})
	var err error
	if g.pub, err = c.rpc.Publish(gctx); err != nil {
		cancel()
		return nil, fmt.Errorf("open publish stream: %w", err)
	}
	if g.inb, err = c.rpc.Inbound(gctx); err != nil {
		cancel()
		return nil, fmt.Errorf("open inbound stream: %w", err)
	}
	if err := g.inb.Send(&pb.InboundAcks{Open: true}); err != nil {
		cancel()
		return nil, fmt.Errorf("open inbound stream: %w", err)
	}
	go p.readResults(g)
	go p.readInbound(g)
	go p.watchExit(g)
	return g, nil
}

// watchExit notices the process's exit even when no stream is busy.
func (p *Process) watchExit(g *generation) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-g.dead:
			return
		case <-t.C:
			if g.client.Exited() {
				g.die(errors.New("process exited"))
				return
			}
		}
	}
}

// readResults settles outbound batches as their results arrive.
func (p *Process) readResults(g *generation) {
	for {
		m, err := g.pub.Recv()
		if err != nil {
			g.die(fmt.Errorf("publish stream: %w", err))
			return
		}
		for _, r := range m.Results {
			p.mu.Lock()
			b := p.inflight[r.BatchId]
			delete(p.inflight, r.BatchId)
			p.mu.Unlock()
			if b == nil {
				continue
			}
			<-p.slots
			var fs []Failure
			for _, f := range r.Failures {
				fs = append(fs, Failure{Index: int(f.Index), Err: errorFromPB(f.Error)})
			}
			b.done(fs)
		}
	}
}

// readInbound hands inbound messages to their instances and acknowledges each batch
// once every message of it was delivered: one acknowledgement per batch, listing only
// the messages that were refused.
func (p *Process) readInbound(g *generation) {
	for {
		b, err := g.inb.Recv()
		if err != nil {
			g.die(fmt.Errorf("inbound stream: %w", err))
			return
		}
		ack := &pb.InboundAck{BatchId: b.BatchId, Failures: p.deliverBatch(b)}
		g.ackMu.Lock()
		err = g.inb.Send(&pb.InboundAcks{Acks: []*pb.InboundAck{ack}})
		g.ackMu.Unlock()
		if err != nil {
			g.die(fmt.Errorf("inbound stream: %w", err))
			return
		}
	}
}

// deliverBatch delivers the messages of a batch in order and returns the failures
// of the refused ones; a malformed batch is refused whole. Payloads are subslices of
// the batch's data, which nothing reuses.
func (p *Process) deliverBatch(b *pb.InboundBatch) []*pb.Failure {
	var (
		fs   []*pb.Failure
		last *Instance
		off  int
	)
	if err := pluginwire.CheckInbound(b); err != nil {
		e := errorToPB(sdk.Wrap(sdk.KindRejected, err))
		for i := range max(len(b.Sizes), len(b.InstanceIds), len(b.RouteIds)) {
			fs = append(fs, &pb.Failure{Index: uint32(i), Error: e})
		}
		return fs
	}
	for i, size := range b.Sizes {
		payload := b.Data[off : off+int(size) : off+int(size)]
		off += int(size)
		id := b.InstanceIds[i]
		if last == nil || last.id != id {
			last = p.instance(id)
		}
		if last == nil {
			fs = append(fs, failure(i, sdk.Errorf(sdk.KindClosed, "no instance %d", id)))
			continue
		}
		if err := last.deliver(b.RouteIds[i], payload); err != nil {
			fs = append(fs, failure(i, err))
		}
	}
	return fs
}

func failure(i int, err error) *pb.Failure {
	return &pb.Failure{Index: uint32(i), Error: errorToPB(err)}
}

func (p *Process) instance(id uint64) *Instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.insts[id]
}

// supervise waits for the generation to die and brings the plugin back.
func (p *Process) supervise(g *generation) {
	<-g.dead
	g.cancel()
	g.client.Kill()
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		close(p.done)
		return
	}
	p.gen = nil
	p.up = make(chan struct{})
	p.mu.Unlock()
	p.log.Error("plugin stopped; restarting it", "cause", g.cause)
	for {
		now := time.Now()
		p.mu.Lock()
		recent := p.restarts[:0]
		for _, t := range p.restarts {
			if now.Sub(t) < p.cfg.Restart.Window {
				recent = append(recent, t)
			}
		}
		p.restarts = recent
		n := len(recent)
		p.mu.Unlock()
		if n >= p.cfg.Restart.Limit {
			p.giveUp(fmt.Errorf("plugin %s: crash loop: %d restarts within %s, giving up (last cause: %v)", p.path, n, p.cfg.Restart.Window, g.cause))
			return
		}
		select {
		case <-time.After(p.cfg.Restart.delay(n)):
		case <-p.closeCh:
			close(p.done)
			return
		}
		p.mu.Lock()
		p.restarts = append(p.restarts, time.Now())
		p.mu.Unlock()
		ng, err := p.restart()
		if err == nil {
			p.log.Info("plugin restarted", "pid", ng.pid)
			go p.supervise(ng)
			return
		}
		p.log.Error("plugin restart failed", "error", err)
	}
}

// restart launches the plugin again, rebuilds its instances and resends the
// outbound batches that have no result yet, in their order.
func (p *Process) restart() (*generation, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.StartTimeout+p.cfg.CallTimeout)
	defer cancel()
	c, err := launch(ctx, p.path, p.cfg)
	if err != nil {
		return nil, err
	}
	g, err := p.attach(ctx, c)
	if err != nil {
		c.client.Kill()
		return nil, err
	}
	p.mu.Lock()
	insts := make([]*Instance, 0, len(p.insts))
	for _, i := range p.insts {
		insts = append(insts, i)
	}
	p.mu.Unlock()
	sort.Slice(insts, func(a, b int) bool { return insts[a].id < insts[b].id })
	for _, i := range insts {
		if err := i.build(ctx, g); err != nil {
			g.die(err)
			g.cancel()
			c.client.Kill()
			return nil, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		g.cancel()
		c.client.Kill()
		return nil, errors.New("closed during restart")
	}
	ids := make([]uint64, 0, len(p.inflight))
	for id := range p.inflight {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	for _, id := range ids {
		if err := g.send(p.inflight[id].msg); err != nil {
			g.die(err)
			g.cancel()
			c.client.Kill()
			return nil, fmt.Errorf("resend: %w", err)
		}
	}
	p.info = c.info
	p.gen = g
	close(p.up)
	return g, nil
}

// giveUp fails everything waiting on the plugin after a crash loop.
func (p *Process) giveUp(err error) {
	p.log.Error("plugin given up", "error", err)
	p.mu.Lock()
	p.failed = sdk.Wrap(sdk.KindConnectionFailed, err)
	left := p.inflight
	p.inflight = map[uint64]*batch{}
	close(p.up) // wake waiters; they see failed
	p.mu.Unlock()
	p.failAll(left, p.failed)
	close(p.done)
}

// failAll settles batches with err for every message and frees their window slots.
func (p *Process) failAll(bs map[uint64]*batch, err error) {
	ids := make([]uint64, 0, len(bs))
	for id := range bs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	for _, id := range ids {
		b := bs[id]
		<-p.slots
		fs := make([]Failure, len(b.msg.Payloads))
		for i := range fs {
			fs[i] = Failure{Index: i, Err: err}
		}
		b.done(fs)
	}
}

// live waits until the plugin is up and returns its generation.
func (p *Process) live(ctx context.Context) (*generation, error) {
	for {
		p.mu.Lock()
		g, up, failed := p.gen, p.up, p.failed
		p.mu.Unlock()
		if failed != nil {
			return nil, failed
		}
		if g != nil {
			return g, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, sdk.Errorf(sdk.KindConnectionFailed, "plugin %s is restarting: %w", p.info.Name, ctx.Err())
		}
	}
}

// send writes one batch to the publish stream.
func (g *generation) send(b *pb.PublishBatch) error {
	g.sendMu.Lock()
	defer g.sendMu.Unlock()
	return g.pub.Send(b)
}

// publish queues payloads as one batch of inst's link. It waits while the window
// is full; while the plugin is down the batch is kept and sent after the restart.
func (p *Process) publish(ctx context.Context, inst uint64, link uint32, payloads [][]byte, done func([]Failure)) error {
	p.mu.Lock()
	failed := p.failed
	p.mu.Unlock()
	if failed != nil {
		return failed
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return sdk.Wrap(sdk.KindTimeout, ctx.Err())
	}
	p.mu.Lock()
	if p.failed != nil {
		err := p.failed
		p.mu.Unlock()
		<-p.slots
		return err
	}
	p.nextBatch++
	msg := &pb.PublishBatch{BatchId: p.nextBatch, InstanceId: inst, LinkId: link, Payloads: payloads}
	p.inflight[msg.BatchId] = &batch{msg: msg, done: done}
	g := p.gen
	p.mu.Unlock()
	if g != nil {
		if err := g.send(msg); err != nil {
			g.die(fmt.Errorf("publish stream: %w", err)) // kept in flight: resent after the restart
		}
	}
	return nil
}

// Close shuts the plugin down: an explicit Shutdown call that closes every instance
// within ctx's deadline, then go-plugin's Kill. Batches without a result fail with
// KindClosed.
func (p *Process) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closing = true
	close(p.closeCh)
	g := p.gen
	if p.failed == nil {
		p.failed = sdk.Errorf(sdk.KindClosed, "plugin %s is closed", p.info.Name)
	}
	p.mu.Unlock()
	var err error
	if g != nil {
		req := &pb.ShutdownRequest{}
		if dl, ok := ctx.Deadline(); ok {
			req.DeadlineUnixNano = dl.UnixNano()
		}
		if _, e := g.rpc.Shutdown(ctx, req); e != nil {
			err = fmt.Errorf("plugin %s: shutdown: %w", p.path, sdk.FromStatus(e))
		}
		g.die(errors.New("closed"))
	}
	select {
	case <-p.done:
	case <-ctx.Done():
	}
	if g != nil {
		g.cancel()
		g.client.Kill()
	}
	p.mu.Lock()
	left := p.inflight
	p.inflight = map[uint64]*batch{}
	p.mu.Unlock()
	p.failAll(left, sdk.Errorf(sdk.KindClosed, "plugin %s closed before publishing", p.info.Name))
	return err
}

// Validate asks the plugin to check an instance's URL, options and links.
func (p *Process) Validate(ctx context.Context, scheme, url string, options sdk.Config, links []sdk.LinkSpec) error {
	g, err := p.live(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
	defer cancel()
	req := &pb.ValidateConfigRequest{Scheme: scheme, Url: url, Options: options}
	for _, l := range links {
		req.Links = append(req.Links, &pb.Link{Direction: uint32(l.Direction), Resource: l.Resource, Options: l.Config, Record: l.Record})
	}
	resp, err := g.rpc.ValidateConfig(cctx, req)
	if err != nil {
		return fmt.Errorf("plugin %s: validate: %w", p.info.Name, sdk.FromStatus(err))
	}
	return errorFromPB(resp.Error)
}
