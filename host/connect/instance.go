package connect

import (
	"context"
	"sync"

	"github.com/aimdb-dev/aimdb-go/host/plugin"
	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// running is a started connector instance, in-process or in a plugin.
type running struct {
	plan   *instancePlan
	local  *run.Instance    // in-process, or
	remote *plugin.Instance // in a plugin
}

// health asks the instance whether it is healthy, and for the metrics it keeps itself.
func (r *running) health(ctx context.Context) ([]sdk.Metric, error) {
	if r.remote != nil {
		return r.remote.HealthMetrics(ctx)
	}
	return r.local.Metrics(), r.local.Health(ctx)
}

func (r *running) close(ctx context.Context) error {
	if r.remote != nil {
		return r.remote.Close(ctx)
	}
	return r.local.Close(ctx)
}

// startInstance builds the instance; inbound messages go to the inbound links,
// Latest to db.LatestLink of the instance's link with that resource.
func (s *Service) startInstance(ctx context.Context, p *instancePlan) (*running, error) {
	byResource := map[string]int{}
	for _, l := range p.links {
		if _, ok := byResource[l.URL.Resource()]; !ok {
			byResource[l.URL.Resource()] = l.ID
		}
	}
	latest := func(_ context.Context, resource string) ([]byte, error) {
		id, ok := byResource[resource]
		if !ok {
			return nil, sdk.Errorf(sdk.KindNoRoute, "connector instance %q has no link with resource %q", p.decl.Name, resource)
		}
		return s.db.LatestLink(id)
	}
	deliver := func(route uint32, payload []byte, size int, meta *sdk.Metadata, settle func(error)) (error, bool) {
		il := s.inbound[int(route)]
		if il == nil {
			return sdk.Errorf(sdk.KindNoRoute, "connector instance %q has no link_from with id %d", p.decl.Name, route), true
		}
		return il.deliver(payload, size, meta, settle)
	}
	if p.proc != nil {
		spec := plugin.InstanceSpec{Name: p.decl.Name, Scheme: p.decl.Plugin, URL: p.decl.URL, Options: p.connOpts, Linger: p.defaults.linger,
			Deliver: func(m plugin.Inbound, settle func(error)) (error, bool) {
				return deliver(m.Route, m.Payload, m.Size, m.Metadata, settle)
			},
			Latest: latest}
		for _, l := range p.links {
			spec.Links = append(spec.Links, plugin.Link{ID: uint32(l.ID), Direction: l.Direction, Resource: l.URL.Resource(), Options: p.linkOpts[l.ID], Record: l.Record})
		}
		inst, err := p.proc.Build(ctx, spec)
		if err != nil {
			return nil, err
		}
		return &running{plan: p, remote: inst}, nil
	}
	u, err := instanceURL(p.decl)
	if err != nil {
		return nil, err
	}
	var routes []sdk.Route
	var outbound []sdk.LinkSpec
	for _, l := range p.links {
		if l.Direction == sdk.Inbound {
			routes = append(routes, sdk.Route{ID: uint32(l.ID), Resource: l.URL.Resource(), Config: p.linkOpts[l.ID], Record: l.Record})
		} else {
			outbound = append(outbound, sdk.LinkSpec{ID: uint32(l.ID), Direction: sdk.Outbound, Resource: l.URL.Resource(), Config: p.linkOpts[l.ID], Record: l.Record})
		}
	}
	inst, err := run.Start(ctx, p.builder, run.Config{
		Name: p.decl.Name, URL: u, Options: p.connOpts, Routes: routes, Outbound: outbound,
		Logger: s.log.Named("connector").With("instance", p.decl.Name),
		Sink: run.SinkFunc(func(m run.Message, ack func(error)) {
			if err, done := deliver(m.RouteID, m.Payload, len(m.Payload), m.Metadata, ack); done {
				ack(err)
			}
		}),
		Host: hostFunc(latest),
	})
	if err != nil {
		return nil, err
	}
	return &running{plan: p, local: inst}, nil
}

// remoteTransport sends a pump's batches on its plugin's data stream.
type remoteTransport struct{ inst *plugin.Instance }

func (t remoteTransport) ready(p *pump) error { return t.inst.Ready(p) }
func (t remoteTransport) instanceID() uint64  { return t.inst.ID() }

// localTransport publishes a pump's batches in-process, on a worker goroutine of
// the link, through the same run.Instance.PublishBatch the plugin server uses.
type localTransport struct {
	inst *run.Instance
	wake chan struct{}
}

func newLocalTransport(inst *run.Instance) *localTransport {
	return &localTransport{inst: inst, wake: make(chan struct{}, 1)}
}

func (t *localTransport) ready(*pump) error {
	select {
	case t.wake <- struct{}{}:
	default:
	}
	return nil
}

func (t *localTransport) instanceID() uint64 { return 0 }

// work cuts and publishes the pump's batches until ctx ends.
func (t *localTransport) work(ctx context.Context, p *pump, wg *sync.WaitGroup) {
	defer wg.Done()
	var errs []error
	for {
		select {
		case <-t.wake:
		case <-ctx.Done():
			return
		}
		for {
			b, ok := p.Cut(pluginwire.MaxBatchMessages, pluginwire.MaxBatchBytes)
			if !ok {
				break
			}
			errs = append(errs[:0], make([]error, len(b.Payloads))...)
			t.inst.PublishBatch(ctx, b.Link, b.Epoch, b.Payloads, errs)
			var fs []plugin.Failure
			for i, err := range errs {
				if err != nil {
					fs = append(fs, plugin.Failure{Index: i, Err: err})
				}
			}
			b.Done(fs)
		}
	}
}

// hostFunc adapts a function to sdk.Host.
type hostFunc func(ctx context.Context, resource string) ([]byte, error)

// Latest calls f.
func (f hostFunc) Latest(ctx context.Context, resource string) ([]byte, error) {
	return f(ctx, resource)
}
