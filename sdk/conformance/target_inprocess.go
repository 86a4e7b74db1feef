package conformance

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// This file runs a builder in the kit's own process, through sdk/run as an
// in-process host does: the connector's goroutines share the test binary with the
// checks, so the race detector sees them, and an inbound payload reaches the checks
// as the connector handed it to its router, not as a copy the plugin boundary made.

// inProcess is a Target whose instances run in this process.
type inProcess struct {
	builder sdk.ConnectorBuilder
	info    PluginInfo
	logs    lockedBuffer
	log     hclog.Logger
	never   chan struct{} // Exited: this process does not exit

	mu    sync.Mutex
	insts map[*localInstance]bool
}

func newInProcess(b sdk.ConnectorBuilder) *inProcess {
	t := &inProcess{builder: b, never: make(chan struct{}), insts: map[*localInstance]bool{}}
	t.log = hclog.New(&hclog.LoggerOptions{Name: b.Scheme(), Level: hclog.Debug, Output: &t.logs, JSONFormat: true})
	k := Kind{Scheme: b.Scheme()}
	if d, ok := b.(sdk.Describer); ok {
		k.Description = d.Describe()
	}
	t.info = PluginInfo{ProtocolVersion: pluginwire.ProtocolVersion, SDKVersion: sdk.Version, Kinds: []Kind{k},
		MaxMessageBytes: pluginwire.MaxMessageBytes, MaxBatchMessages: pluginwire.MaxBatchMessages,
		MaxBatchBytes: pluginwire.MaxBatchBytes, MaxBatchesInFlight: pluginwire.MaxBatchesInFlight}
	return t
}

func (t *inProcess) Info() PluginInfo        { return t.info }
func (t *inProcess) Pid() int                { return 0 }
func (t *inProcess) Exited() <-chan struct{} { return t.never }
func (t *inProcess) Stdout() string          { return "" }

// Stderr returns what the connectors logged.
func (t *inProcess) Stderr() string { return t.logs.String() }

// Build starts an instance with run.Start, as the plugin server does: links become
// routes and outbound links, route patterns are checked first.
func (t *inProcess) Build(ctx context.Context, spec InstanceSpec) (Instance, error) {
	if spec.Scheme != t.builder.Scheme() {
		return nil, sdk.Errorf(sdk.KindInvalidConfig, "this builder serves no scheme %q", spec.Scheme)
	}
	u, err := run.InstanceURL(spec.Scheme, spec.URL) // as the plugin server parses it
	if err != nil {
		return nil, err
	}
	record := "conformance." + spec.Name
	var routes []sdk.Route
	var outbound []sdk.LinkSpec
	for _, l := range spec.Links {
		switch l.Direction {
		case sdk.Outbound:
			outbound = append(outbound, sdk.LinkSpec{ID: l.ID, Direction: sdk.Outbound, Resource: l.Resource, Config: l.Options, Record: record})
		case sdk.Inbound:
			if err := sdk.ValidatePattern(l.Resource); err != nil {
				return nil, sdk.Errorf(sdk.KindInvalidDestination, "record %q: %w", record, err)
			}
			routes = append(routes, sdk.Route{ID: l.ID, Resource: l.Resource, Config: l.Options, Record: record})
		}
	}
	in := &localInstance{t: t, spec: spec, epochs: map[uint32]uint32{}, acks: newAckQueue()}
	inst, err := run.Start(ctx, t.builder, run.Config{
		Name: spec.Name, URL: u, Options: spec.Options, Routes: routes, Outbound: outbound,
		Sink: run.SinkFunc(in.deliver), Logger: t.log.Named(spec.Name),
	})
	if err != nil {
		in.acks.stop()
		return nil, err
	}
	in.inst = inst
	t.mu.Lock()
	t.insts[in] = true
	t.mu.Unlock()
	return in, nil
}

// Shutdown closes every instance within ctx.
func (t *inProcess) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	all := t.insts
	t.insts = map[*localInstance]bool{}
	t.mu.Unlock()
	var wg sync.WaitGroup
	for in := range all {
		wg.Go(func() { _ = in.Close(ctx) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return sdk.Errorf(sdk.KindTimeout, "instances still closing at the deadline: %v", ctx.Err())
	}
}

// Kill closes every instance, waiting at most ExitBound.
func (t *inProcess) Kill() {
	ctx, cancel := context.WithTimeout(context.Background(), ExitBound)
	defer cancel()
	_ = t.Shutdown(ctx)
}

// localInstance is an Instance run in this process.
type localInstance struct {
	t    *inProcess
	spec InstanceSpec
	inst *run.Instance
	acks *ackQueue

	mu     sync.Mutex
	epochs map[uint32]uint32 // per link: bumped after a retryable failure, as the host does
}

// deliver takes an inbound message as a host does: the message is handed over at
// once, and its acknowledgement reaches the connector later, from another
// goroutine, in order.
func (in *localInstance) deliver(m run.Message, ack func(error)) {
	switch {
	case in.spec.DeliverAsync != nil:
		in.spec.DeliverAsync(m.RouteID, m.Payload, func(err error) { in.acks.push(func() { ack(err) }) })
	case in.spec.Deliver == nil:
		err := sdk.Errorf(sdk.KindNoRoute, "instance %q takes no inbound messages", in.spec.Name)
		in.acks.push(func() { ack(err) })
	default:
		err := in.spec.Deliver(m.RouteID, m.Payload)
		in.acks.push(func() { ack(err) })
	}
}

// Publish publishes one payload as a batch of its own under ctx and waits for its
// result as the process target does, so a Publish that ignores ctx shows.
func (in *localInstance) Publish(ctx context.Context, link uint32, payload []byte) error {
	in.mu.Lock()
	epoch := in.epochs[link]
	in.mu.Unlock()
	res := make(chan error, 1)
	go func() {
		errs := make([]error, 1)
		in.inst.PublishBatch(ctx, link, epoch, [][]byte{payload}, errs)
		res <- errs[0]
	}()
	err := awaitResult(ctx, res, in.t.never)
	if sdk.Retryable(err) {
		in.mu.Lock()
		in.epochs[link] = epoch + 1
		in.mu.Unlock()
	}
	return err
}

func (in *localInstance) Health(ctx context.Context) error { return in.inst.Health(ctx) }

// Close closes the instance within ctx; a Close that hangs is left running.
func (in *localInstance) Close(ctx context.Context) error {
	in.t.mu.Lock()
	delete(in.t.insts, in)
	in.t.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		done <- in.inst.Close(ctx)
		in.acks.stop()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return sdk.Wrap(sdk.KindTimeout, fmt.Errorf("close did not return: %w", ctx.Err()))
	}
}

// ackQueue runs an instance's acknowledgements in order on a goroutine of its own,
// as the host's stream does.
type ackQueue struct {
	mu      sync.Mutex
	queue   []func()
	stopped bool
	wake    chan struct{}
	done    chan struct{}
}

func newAckQueue() *ackQueue {
	q := &ackQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

// push queues an acknowledgement; after stop it runs at once.
func (q *ackQueue) push(f func()) {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		f()
		return
	}
	q.queue = append(q.queue, f)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *ackQueue) run() {
	for {
		select {
		case <-q.wake:
		case <-q.done:
			return
		}
		q.mu.Lock()
		fs := q.queue
		q.queue = nil
		q.mu.Unlock()
		for _, f := range fs {
			f()
		}
	}
}

// stop ends the queue's goroutine; what is queued then runs at once.
func (q *ackQueue) stop() {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.stopped = true
	left := q.queue
	q.queue = nil
	q.mu.Unlock()
	close(q.done)
	for _, f := range left {
		f()
	}
}
