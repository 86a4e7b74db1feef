package plugin

import (
	"context"
	"sync"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire/client"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Link is one link of an instance.
type Link = client.Link

// InstanceSpec declares one connector instance to build in a plugin.
type InstanceSpec struct {
	// Name is the instance's name, for logs.
	Name string
	// Scheme selects the connector kind in the plugin.
	Scheme string
	// URL is the connector URL as written (with its password), or "".
	URL string
	// Options are the connector block's options.
	Options sdk.Config
	// Linger is how long the plugin may hold what the instance sends the host while
	// messages flow (plugin_linger); 0 sends at once.
	Linger time.Duration
	// Links are the instance's links; inbound messages carry the link's ID as route id.
	Links []Link
	// Deliver takes an inbound message of one of the instance's link_from links (its
	// Route is the link's ID) and returns its outcome, or done == false to settle it
	// later with settle. It runs on the data stream's receiving goroutine, so it must
	// not block; the payload shares memory with its batch (never reused).
	Deliver func(m Inbound, settle func(error)) (err error, done bool)
	// Latest answers the connector's sdk.Host.Latest; nil refuses.
	Latest func(ctx context.Context, resource string) ([]byte, error)
}

// Instance is a connector instance built in a plugin process. It survives restarts
// of the process: the supervisor builds it again in the new process.
type Instance struct {
	p    *Process
	id   uint64
	spec InstanceSpec
}

// Build builds a connector instance in the plugin.
func (p *Process) Build(ctx context.Context, spec InstanceSpec) (*Instance, error) {
	if _, ok := p.Info().Kind(spec.Scheme); !ok {
		return nil, sdk.Errorf(sdk.KindInvalidConfig, "plugin %s serves no scheme %q", p.info.Name, spec.Scheme)
	}
	g, err := p.live()
	if err != nil {
		return nil, err
	}
	// Registered before the call: a connector may deliver inbound messages while
	// Build is still returning.
	p.mu.Lock()
	p.nextInst++
	inst := &Instance{p: p, id: p.nextInst, spec: spec}
	p.insts[inst.id] = inst
	p.mu.Unlock()
	if err := g.conn.Build(ctx, inst.buildSpec()); err != nil {
		p.mu.Lock()
		delete(p.insts, inst.id)
		p.mu.Unlock()
		return nil, err
	}
	return inst, nil
}

func (i *Instance) buildSpec() client.InstanceSpec {
	return client.InstanceSpec{ID: i.id, Name: i.spec.Name, Scheme: i.spec.Scheme, URL: i.spec.URL,
		Options: i.spec.Options, Linger: i.spec.Linger, Links: i.spec.Links}
}

// ID returns the instance's id in its process; batches name it.
func (i *Instance) ID() uint64 { return i.id }

// Name returns the instance's name.
func (i *Instance) Name() string { return i.spec.Name }

// Process returns the plugin process serving the instance.
func (i *Instance) Process() *Process { return i.p }

// Ready tells the plugin's data stream that f has a batch of this instance to send.
// It fails with a retryable error (KindConnectionFailed) while the plugin is down and
// KindClosed once it was closed.
func (i *Instance) Ready(f Feed) error {
	g, err := i.p.live()
	if err != nil {
		return err
	}
	return g.data.Ready(f)
}

// Publish sends payloads of link as one batch of the given epoch and waits for the
// result: the failed messages, or an error when the batch could not be sent (the
// plugin is down, or its stream died first). It is for tools and tests that send one
// batch; a link's pump uses Ready with a Feed, so its batches grow with the traffic.
func (i *Instance) Publish(ctx context.Context, link, epoch uint32, payloads [][]byte) ([]Failure, error) {
	done := make(chan []Failure, 1)
	f := &oneBatch{abandoned: make(chan error, 1), b: &Batch{Instance: i.id, Link: link, Epoch: epoch, Payloads: payloads,
		Done: func(fs []Failure) { done <- fs }}}
	if err := i.Ready(f); err != nil {
		return nil, err
	}
	select {
	case fs := <-done:
		return fs, nil
	case err := <-f.abandoned:
		return nil, err
	case <-ctx.Done():
		return nil, sdk.Wrap(sdk.KindTimeout, ctx.Err())
	}
}

// oneBatch is a Feed of a single batch.
type oneBatch struct {
	mu        sync.Mutex
	b         *Batch
	abandoned chan error
}

func (o *oneBatch) Cut(int, int) (Batch, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.b == nil {
		return Batch{}, false
	}
	b := *o.b
	o.b = nil
	return b, true
}

func (o *oneBatch) Abandon(err error) { o.abandoned <- err }

// Health asks the plugin whether the instance is healthy.
func (i *Instance) Health(ctx context.Context) error {
	_, err := i.HealthMetrics(ctx)
	return err
}

// HealthMetrics is Health that also returns the metrics the instance keeps itself
// (sdk.MetricsReporter).
func (i *Instance) HealthMetrics(ctx context.Context) ([]sdk.Metric, error) {
	g, err := i.p.live()
	if err != nil {
		return nil, err
	}
	return g.conn.HealthMetrics(ctx, i.id)
}

// Close closes the instance in the plugin; it is not rebuilt after a restart.
func (i *Instance) Close(ctx context.Context) error {
	i.p.mu.Lock()
	_, ok := i.p.insts[i.id]
	delete(i.p.insts, i.id)
	g := i.p.gen
	i.p.mu.Unlock()
	if !ok || g == nil {
		return nil
	}
	return g.conn.CloseInstance(ctx, i.id, i.spec.Name)
}

// deliver hands an inbound message to the instance's Deliver.
func (i *Instance) deliver(m Inbound, settle func(error)) (err error, done bool) {
	if i.spec.Deliver == nil {
		return sdk.Errorf(sdk.KindNoRoute, "instance %q takes no inbound values", i.spec.Name), true
	}
	defer func() {
		if r := recover(); r != nil {
			err, done = sdk.Errorf(sdk.KindRejected, "instance %q: delivering to link %d panicked: %v", i.spec.Name, m.Route, r), true
		}
	}()
	return i.spec.Deliver(m, settle)
}
