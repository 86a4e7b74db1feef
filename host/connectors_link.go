package host

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aimdb-dev/aimdb-go/host/plugin"
	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// connInstance is a built connector instance, in-process or in a plugin.
type connInstance interface {
	// publish sends consecutive values of one outbound link; done runs with the failed ones.
	publish(ctx context.Context, l LinkInfo, payloads [][]byte, done func([]plugin.Failure)) error
	health(ctx context.Context) error
	close(ctx context.Context) error
}

// runningInstance is a started instance with its plan.
type runningInstance struct {
	plan *instancePlan
	conn connInstance
	// logged limits failure logs to one per link per second.
	logged sync.Map // link id -> *atomic.Int64 (unix nanos of the last log)
}

// startInstance builds the instance; inbound values go to db.DeliverLink, Latest to
// db.LatestLink of the instance's link with that resource.
func (s *connectorService) startInstance(db *DB, p *instancePlan) (*runningInstance, error) {
	ri := &runningInstance{plan: p}
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
		return db.LatestLink(id)
	}
	deliver := func(link uint32, payload []byte) error { return s.deliver(db, ri, int(link), payload) }
	log := s.log.Named("connector").With("instance", p.decl.Name)
	ctx, cancel := context.WithTimeout(s.runCtx, pluginStartTimeout)
	defer cancel()
	if p.proc != nil {
		spec := plugin.InstanceSpec{Name: p.decl.Name, Scheme: p.decl.Plugin, URL: p.decl.URL, Options: p.decl.Options,
			Deliver: deliver, Latest: latest}
		for _, l := range p.links {
			spec.Links = append(spec.Links, plugin.Link{ID: uint32(l.ID), Direction: l.Direction, Resource: l.URL.Resource(), Options: l.Options, Record: l.Record})
		}
		inst, err := p.proc.Build(ctx, spec)
		if err != nil {
			return nil, err
		}
		ri.conn = remoteInstance{inst}
		return ri, nil
	}
	u, err := instanceURL(p.decl)
	if err != nil {
		return nil, err
	}
	var routes []sdk.Route
	var outbound []sdk.LinkSpec
	for _, l := range p.links {
		if l.Direction == sdk.Inbound {
			routes = append(routes, sdk.Route{ID: uint32(l.ID), Resource: l.URL.Resource(), Config: l.Options, Record: l.Record})
		} else {
			outbound = append(outbound, sdk.LinkSpec{Direction: sdk.Outbound, Resource: l.URL.Resource(), Config: l.Options, Record: l.Record})
		}
	}
	inst, err := sdk.Start(ctx, p.builder, sdk.InstanceConfig{
		Name: p.decl.Name, URL: u, Options: p.decl.Options, Routes: routes, Outbound: outbound, Logger: log,
		Sink: sdk.SinkFunc(func(m sdk.Message, ack func(error)) { ack(deliver(m.RouteID, m.Payload)) }),
		Host: hostFunc(latest),
	})
	if err != nil {
		return nil, err
	}
	ri.conn = &localInstance{inst: inst, dests: map[string]*sync.Mutex{}}
	return ri, nil
}

// deliver produces one inbound payload; refusals are counted by DeliverLink and
// logged here with the link URL.
func (s *connectorService) deliver(db *DB, ri *runningInstance, link int, payload []byte) error {
	err := db.DeliverLink(link, payload)
	if err != nil && sdk.KindOf(err) != sdk.KindClosed && ri.mayLog(link) {
		s.log.Warn("inbound value refused", "instance", ri.plan.decl.Name, "error", err)
	}
	return err
}

// mayLog reports whether a failure of link may be logged now (one per second).
func (ri *runningInstance) mayLog(link int) bool {
	v, _ := ri.logged.LoadOrStore(link, new(atomic.Int64))
	last := v.(*atomic.Int64)
	now := time.Now().UnixNano()
	prev := last.Load()
	return now-prev >= int64(time.Second) && last.CompareAndSwap(prev, now)
}

// pump reads link l's serialized values, batches what is ready and publishes it,
// until the record's buffer is closed and drained or the service is cancelled.
func (s *connectorService) pump(db *DB, ri *runningInstance, l LinkInfo, rd *LinkReader) {
	defer s.pumps.Done()
	defer rd.Close()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	// An already-cancelled context makes Next a non-blocking try, to batch what is ready.
	try, cancelTry := context.WithCancel(context.Background())
	cancelTry()
	for {
		p, err := rd.Next(s.runCtx)
		if err != nil {
			var lag *LagError
			if errors.As(err, &lag) {
				continue // counted by the reader; go on from the oldest value held
			}
			return // ErrClosed (drained) or cancelled
		}
		batch, size := [][]byte{p}, len(p)
		for len(batch) < pluginwire.MaxBatchMessages && size < pluginwire.MaxBatchBytes {
			p, err := rd.Next(try)
			if err != nil {
				var lag *LagError
				if errors.As(err, &lag) {
					continue
				}
				break
			}
			batch, size = append(batch, p), size+len(p)
		}
		n := len(batch)
		inflight.Add(1)
		err = ri.conn.publish(s.runCtx, l, batch, func(fs []plugin.Failure) {
			defer inflight.Done()
			s.settle(db, ri, l, n, fs)
		})
		if err != nil {
			inflight.Done()
			db.CountLink(l.ID, LinkErrors, uint64(n))
			s.log.Error("publishing stopped", "instance", ri.plan.decl.Name, "record", l.Record, "link", l.URL.String(), "lost", n, "error", err)
			return
		}
	}
}

// settle counts a batch's outcome and logs its failures with the link URL.
func (s *connectorService) settle(db *DB, ri *runningInstance, l LinkInfo, n int, fs []plugin.Failure) {
	db.CountLink(l.ID, LinkSent, uint64(n-len(fs)))
	if len(fs) == 0 {
		return
	}
	db.CountLink(l.ID, LinkErrors, uint64(len(fs)))
	if ri.mayLog(l.ID) {
		s.log.Warn("publish failed", "instance", ri.plan.decl.Name, "record", l.Record, "link", l.URL.String(),
			"failed", len(fs), "of", n, "error", fs[0].Err)
	}
}

// remoteInstance is an instance in a plugin process.
type remoteInstance struct{ *plugin.Instance }

func (r remoteInstance) publish(ctx context.Context, l LinkInfo, payloads [][]byte, done func([]plugin.Failure)) error {
	return r.Publish(ctx, uint32(l.ID), payloads, done)
}
func (r remoteInstance) health(ctx context.Context) error { return r.Health(ctx) }
func (r remoteInstance) close(ctx context.Context) error  { return r.Close(ctx) }

// localInstance is an instance linked into the host process.
type localInstance struct {
	inst  *sdk.Instance
	mu    sync.Mutex
	dests map[string]*sync.Mutex // one publisher per destination at a time, in order
}

func (li *localInstance) publish(ctx context.Context, l LinkInfo, payloads [][]byte, done func([]plugin.Failure)) error {
	dest := l.URL.Resource()
	li.mu.Lock()
	m := li.dests[dest]
	if m == nil {
		m = &sync.Mutex{}
		li.dests[dest] = m
	}
	li.mu.Unlock()
	var fs []plugin.Failure
	m.Lock()
	for i, p := range payloads {
		if err := li.inst.Publish(ctx, dest, l.Options, p); err != nil {
			fs = append(fs, plugin.Failure{Index: i, Err: err})
		}
	}
	m.Unlock()
	done(fs)
	return nil
}
func (li *localInstance) health(ctx context.Context) error { return li.inst.Health(ctx) }
func (li *localInstance) close(ctx context.Context) error  { return li.inst.Close(ctx) }

// hostFunc adapts a function to sdk.Host.
type hostFunc func(ctx context.Context, resource string) ([]byte, error)

// Latest calls f.
func (f hostFunc) Latest(ctx context.Context, resource string) ([]byte, error) {
	return f(ctx, resource)
}

// ConnectorStatus is one connector instance's state, for the CLI.
type ConnectorStatus struct {
	// Name is the instance name; Kind its connector kind.
	Name, Kind string
	// Plugin is the plugin executable, or "" for an in-process kind.
	Plugin string
	// Health is nil when the instance says it is healthy.
	Health error
}

// Connectors reports every running connector instance of db with its health.
func Connectors(ctx context.Context, db *DB) []ConnectorStatus {
	var s *connectorService
	for _, ns := range db.services {
		if cs, ok := ns.svc.(*connectorService); ok {
			s = cs
		}
	}
	if s == nil {
		return nil
	}
	s.mu.Lock()
	running := append([]*runningInstance(nil), s.running...)
	s.mu.Unlock()
	var out []ConnectorStatus
	for _, ri := range running {
		st := ConnectorStatus{Name: ri.plan.decl.Name, Kind: ri.plan.decl.Plugin, Health: ri.conn.health(ctx)}
		if ri.plan.proc != nil {
			st.Plugin = ri.plan.proc.Info().Path
		}
		out = append(out, st)
	}
	return out
}
