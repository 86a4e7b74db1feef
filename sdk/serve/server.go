package serve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/internal/hook"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// instanceSecrets is the SDK's hook (sdk/internal/hook), asserted when the package loads.
var instanceSecrets = hook.InstanceSecrets.(func(sdk.ConnectorBuilder, sdk.URL, sdk.Config, []sdk.LinkSpec) []string)

// server is the plugin side of the wire: it builds instances with run.Start, exactly
// as the in-process host does, and moves their data over the batched streams.
type server struct {
	pb.UnimplementedConnectorServer

	kinds   map[string]sdk.ConnectorBuilder
	log     hclog.Logger
	red     *sdk.Redactor // every instance's secrets, masked in all the process logs
	inbound *inboundPipe
	wake    chan struct{} // wakes the data writer: inbound messages or results wait
	host    *hostQuestions
	open    atomic.Bool // a data stream is being served
	// lastSent is when the data writer last sent a frame (monoNow): messages flow
	// while it is more recent than an instance's linger.
	lastSent atomic.Int64

	mu    sync.Mutex
	insts map[uint64]*served
}

// served is one instance the plugin serves.
type served struct {
	id     uint64
	name   string
	linger int64 // nanoseconds what the instance sends the host may wait (plugin_linger)
	inst   *run.Instance
	ctx    context.Context // cancelled when the instance closes
	cancel context.CancelFunc

	mu      sync.Mutex
	workers map[uint32]*linkWorker // by link id
}

func newServer(builders []sdk.ConnectorBuilder) *server {
	s := &server{kinds: map[string]sdk.ConnectorBuilder{}, log: hclog.NewNullLogger(), red: sdk.NewRedactor(),
		insts: map[uint64]*served{}, wake: make(chan struct{}, 1)}
	for _, b := range builders {
		s.kinds[b.Scheme()] = b
	}
	s.inbound = newInboundPipe(s.wake)
	s.host = &hostQuestions{s: s}
	s.lastSent.Store(math.MinInt64 / 2) // never: the first message does not linger
	return s
}

// due is when something an instance with linger ready now must be sent (monoNow):
// at once, unless messages flow (the writer sent a frame within linger) and may
// join it meanwhile.
func (s *server) due(linger int64) int64 {
	if linger <= 0 {
		return dueNow // no clock read for an instance that never lingers
	}
	now := monoNow()
	if now-s.lastSent.Load() < linger {
		return now + linger
	}
	return now
}

// dueNow is a due time long past (0 means unset): send at once.
const dueNow = 1

// monoNow is a monotonic clock in nanoseconds.
func monoNow() int64 { return int64(time.Since(clockBase)) }

var clockBase = time.Now()

// streaming reports whether the host's data stream is open.
func (s *server) streaming() bool { return s.open.Load() }

// wakeWriter tells the data writer that something is ready to send.
func (s *server) wakeWriter() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *server) register(_ *plugin.GRPCBroker, g *grpc.Server) {
	pb.RegisterConnectorServer(g, s)
}

// Describe reports the plugin's kinds, protocol version and limits.
func (s *server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	resp := &pb.DescribeResponse{
		ProtocolVersion: pluginwire.ProtocolVersion,
		SdkVersion:      sdk.Version,
		Limits: &pb.Limits{
			MaxMessageBytes:    pluginwire.MaxMessageBytes,
			MaxBatchMessages:   pluginwire.MaxBatchMessages,
			MaxBatchBytes:      pluginwire.MaxBatchBytes,
			MaxBatchesInFlight: pluginwire.MaxBatchesInFlight,
			MaxInboundInFlight: pluginwire.MaxInboundInFlight,
		},
	}
	schemes := make([]string, 0, len(s.kinds))
	for sc := range s.kinds {
		schemes = append(schemes, sc)
	}
	sort.Strings(schemes)
	for _, sc := range schemes {
		k := &pb.Kind{Scheme: sc}
		if d, ok := s.kinds[sc].(sdk.Describer); ok {
			desc := d.Describe()
			k.Version, k.Capabilities, k.MaxPayload = desc.Version, desc.Capabilities, uint64(max(desc.MaxPayload, 0))
			for _, o := range desc.Options {
				k.Options = append(k.Options, &pb.OptionDoc{Name: o.Name, Scope: o.Scope, Doc: o.Doc, Default: o.Default, Secret: o.Secret})
			}
		}
		resp.Kinds = append(resp.Kinds, k)
	}
	return resp, nil
}

func (s *server) builder(scheme string) (sdk.ConnectorBuilder, error) {
	b, ok := s.kinds[scheme]
	if !ok {
		return nil, sdk.Errorf(sdk.KindInvalidConfig, "this plugin serves no scheme %q", scheme)
	}
	return b, nil
}

// ValidateConfig runs the builder's ConfigValidator, if it has one, and answers with
// each mistake as a finding of its own (and all of them joined, for older hosts).
func (s *server) ValidateConfig(_ context.Context, req *pb.ValidateConfigRequest) (*pb.ValidateConfigResponse, error) {
	err := s.validate(req.Scheme, req.Url, req.Options, req.Links)
	return &pb.ValidateConfigResponse{Error: pluginwire.ErrorToPB(err), Findings: findingsToPB(err)}, nil
}

func (s *server) validate(scheme, rawURL string, opts map[string]string, links []*pb.Link) (err error) {
	b, err := s.builder(scheme)
	if err != nil {
		return err
	}
	u, err := run.InstanceURL(scheme, rawURL)
	if err != nil {
		return err
	}
	v, ok := b.(sdk.ConfigValidator)
	if !ok {
		return nil
	}
	specs := make([]sdk.LinkSpec, len(links))
	for i, l := range links {
		specs[i] = sdk.LinkSpec{ID: l.Id, Direction: sdk.Direction(l.Direction), Resource: l.Resource, Config: sdk.Config(l.Options), Record: l.Record}
	}
	red := sdk.NewRedactor(instanceSecrets(b, u, sdk.Config(opts), specs)...)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("scheme %q: config validator panicked: %v", scheme, r)
		}
		err = red.Error(err)
	}()
	return v.ValidateConfig(u, sdk.Config(opts), specs)
}

// findingsToPB lists each mistake err holds as a finding, with the link and option
// its OptionError names.
func findingsToPB(err error) []*pb.Finding {
	var out []*pb.Finding
	for _, leaf := range sdk.Split(err) {
		f := &pb.Finding{Error: pluginwire.ErrorToPB(leaf)}
		var oe *sdk.OptionError
		if errors.As(leaf, &oe) {
			f.Option = oe.Option
			f.Error = pluginwire.ErrorToPB(&sdk.Error{Kind: sdk.KindOf(leaf), Err: oe.Err})
			if oe.Link != nil {
				f.OnLink, f.LinkId = true, oe.Link.ID
			}
		}
		out = append(out, f)
	}
	return out
}

// Build starts one instance with run.Start.
func (s *server) Build(ctx context.Context, req *pb.BuildRequest) (*pb.BuildResponse, error) {
	b, err := s.builder(req.Scheme)
	if err != nil {
		return nil, pluginwire.ToStatus(err)
	}
	u, err := run.InstanceURL(req.Scheme, req.Url)
	if err != nil {
		return nil, pluginwire.ToStatus(err)
	}
	s.mu.Lock()
	_, dup := s.insts[req.InstanceId]
	s.mu.Unlock()
	if dup {
		return nil, pluginwire.ToStatus(sdk.Errorf(sdk.KindInvalidConfig, "instance id %d is already in use", req.InstanceId))
	}
	if req.LingerNanos < 0 {
		return nil, pluginwire.ToStatus(sdk.Errorf(sdk.KindInvalidConfig, "negative linger %v", time.Duration(req.LingerNanos)))
	}
	sv := &served{id: req.InstanceId, name: req.Name, linger: req.LingerNanos, workers: map[uint32]*linkWorker{}}
	var routes []sdk.Route
	var outbound []sdk.LinkSpec
	for _, l := range req.Links {
		switch sdk.Direction(l.Direction) {
		case sdk.Outbound:
			outbound = append(outbound, sdk.LinkSpec{ID: l.Id, Direction: sdk.Outbound, Resource: l.Resource, Config: sdk.Config(l.Options), Record: l.Record})
		case sdk.Inbound:
			if err := sdk.ValidatePattern(l.Resource); err != nil {
				return nil, pluginwire.ToStatus(sdk.Errorf(sdk.KindInvalidDestination, "record %q: %w", l.Record, err))
			}
			routes = append(routes, sdk.Route{ID: l.Id, Resource: l.Resource, Config: sdk.Config(l.Options), Record: l.Record})
		default:
			return nil, pluginwire.ToStatus(sdk.Errorf(sdk.KindInvalidConfig, "link %d: unknown direction %d", l.Id, l.Direction))
		}
	}
	id := req.InstanceId
	inst, err := run.Start(ctx, b, run.Config{
		Name:     req.Name,
		URL:      u,
		Options:  sdk.Config(req.Options),
		Routes:   routes,
		Outbound: outbound,
		Sink:     run.SinkFunc(func(m run.Message, ack func(error)) { s.inbound.deliver(id, s.due(sv.linger), m, ack) }),
		Logger:   s.log.Named(req.Name),
		Host:     s.host.forInstance(id),
		Redactor: s.red,
	})
	if err != nil {
		return nil, pluginwire.ToStatus(err)
	}
	sv.inst = inst
	sv.ctx, sv.cancel = context.WithCancel(context.Background())
	s.mu.Lock()
	s.insts[id] = sv
	s.mu.Unlock()
	return &pb.BuildResponse{}, nil
}

func (s *server) instance(id uint64) *served {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insts[id]
}

// Health asks the instance whether it is healthy, and for its own metrics.
func (s *server) Health(ctx context.Context, req *pb.HealthRequest) (*pb.HealthResponse, error) {
	sv := s.instance(req.InstanceId)
	if sv == nil {
		return &pb.HealthResponse{Error: pluginwire.ErrorToPB(sdk.Errorf(sdk.KindClosed, "no instance %d", req.InstanceId))}, nil
	}
	return &pb.HealthResponse{Error: pluginwire.ErrorToPB(sv.inst.Health(ctx)), Metrics: metricsToPB(sv.inst.Metrics())}, nil
}

// CloseInstance closes one instance and forgets it.
func (s *server) CloseInstance(ctx context.Context, req *pb.CloseInstanceRequest) (*pb.CloseInstanceResponse, error) {
	s.mu.Lock()
	sv := s.insts[req.InstanceId]
	delete(s.insts, req.InstanceId)
	s.mu.Unlock()
	if sv == nil {
		return nil, status.Errorf(codes.NotFound, "no instance %d", req.InstanceId)
	}
	if err := sv.close(ctx); err != nil {
		return nil, pluginwire.ToStatus(err)
	}
	return &pb.CloseInstanceResponse{}, nil
}

// Shutdown closes every instance within the deadline.
func (s *server) Shutdown(ctx context.Context, req *pb.ShutdownRequest) (*pb.ShutdownResponse, error) {
	if req.DeadlineUnixNano > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, req.DeadlineUnixNano))
		defer cancel()
	}
	if err := s.closeAll(ctx); err != nil {
		return nil, pluginwire.ToStatus(err)
	}
	return &pb.ShutdownResponse{}, nil
}

// closeAll closes every instance concurrently and returns the first error. It returns
// when ctx ends even if a connector's Close ignores ctx and hangs, so a shutdown
// deadline holds and an orphaned plugin still exits.
func (s *server) closeAll(ctx context.Context) error {
	s.mu.Lock()
	all := s.insts
	s.insts = map[uint64]*served{}
	s.mu.Unlock()
	errs := make(chan error, len(all))
	for _, sv := range all {
		go func() { errs <- sv.close(ctx) }()
	}
	var first error
	for range all {
		select {
		case err := <-errs:
			if err != nil {
				s.log.Error("closing instance", "error", err)
				if first == nil {
					first = err
				}
			}
		case <-ctx.Done():
			err := sdk.Errorf(sdk.KindTimeout, "instances still closing at the deadline: %v", ctx.Err())
			s.log.Error("closing instances", "error", err)
			if first == nil {
				first = err
			}
			return first
		}
	}
	return first
}

// close stops the instance's publish workers (their queued batches fail with
// KindClosed) and closes the connector.
func (sv *served) close(ctx context.Context) error {
	sv.mu.Lock()
	sv.cancel()
	sv.mu.Unlock()
	return sv.inst.Close(ctx)
}
