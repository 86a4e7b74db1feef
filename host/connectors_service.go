package host

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/host/plugin"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// pluginStartTimeout bounds starting the plugins of a directory during Build.
const pluginStartTimeout = 30 * time.Second

// connectorService is the connector layer: a Service that builds the declared
// connector instances, in-process or in plugins, and moves link values between
// them and the records.
type connectorService struct {
	builders map[string]sdk.ConnectorBuilder
	dirs     []string
	pcfg     plugin.Config
	declared map[string]Instance
	order    []string
	errs     []error

	log   hclog.Logger
	mgrs  []*plugin.Manager
	procs map[string]*plugin.Process // scheme -> plugin
	plans []*instancePlan

	runCtx    context.Context
	cancelRun context.CancelFunc
	pumps     sync.WaitGroup

	mu      sync.Mutex // guards running
	running []*runningInstance
}

// instancePlan is one connector instance as Validate resolved it.
type instancePlan struct {
	decl    Instance
	builder sdk.ConnectorBuilder // in-process kind, or
	proc    *plugin.Process      // plugin kind
	desc    sdk.Description
	links   []LinkInfo
}

// kindLabel says where the instance's kind runs, for messages.
func (p *instancePlan) kindLabel() string {
	if p.proc != nil {
		return fmt.Sprintf("kind %q from plugin %s", p.decl.Plugin, p.proc.Info().Path)
	}
	return fmt.Sprintf("in-process kind %q", p.decl.Plugin)
}

func newConnectorService() *connectorService {
	return &connectorService{builders: map[string]sdk.ConnectorBuilder{}, declared: map[string]Instance{}}
}

// Validate starts the plugins, resolves every link's scheme to a connector instance
// and asks each instance's kind to check its configuration.
func (s *connectorService) Validate(db *DB) []error {
	errs := append([]error(nil), s.errs...)
	s.log = db.Logger()
	errs = append(errs, s.openPlugins()...)
	plans := map[string]*instancePlan{}
	for _, name := range s.order {
		d := s.declared[name]
		p, err := s.plan(d)
		if err != nil {
			errs = append(errs, &ConfigError{Err: fmt.Errorf("connector instance %q: %w", name, err)})
			continue
		}
		plans[name] = p
		s.plans = append(s.plans, p)
	}
	for _, l := range db.Links() {
		name := l.URL.Scheme
		p := plans[name]
		if p == nil {
			if _, declared := s.declared[name]; declared {
				continue // its own error is reported above
			}
			var err error
			if p, err = s.plan(Instance{Name: name, Plugin: name, Options: sdk.Config{}}); err != nil {
				errs = append(errs, &ConfigError{Record: l.Record, URL: l.URL.String(),
					Err: fmt.Errorf("no connector instance or kind named %q (declared instances: %s; kinds: %s)", name, s.instanceNames(), s.kindNames())})
				continue
			}
			plans[name] = p
			s.plans = append(s.plans, p)
		}
		if l.Direction == sdk.Inbound {
			if err := sdk.ValidatePattern(l.URL.Resource()); err != nil {
				errs = append(errs, &ConfigError{Record: l.Record, URL: l.URL.String(), Err: err})
				continue
			}
		}
		if err := checkCapability(p, l); err != nil {
			errs = append(errs, &ConfigError{Record: l.Record, URL: l.URL.String(), Err: err})
			continue
		}
		p.links = append(p.links, l)
	}
	for _, p := range s.plans {
		if err := s.validateConfig(p); err != nil {
			errs = append(errs, &ConfigError{Err: fmt.Errorf("connector instance %q (%s): %w", p.decl.Name, p.kindLabel(), err)})
		}
	}
	if len(errs) > 0 {
		s.closePlugins(context.Background())
	}
	return errs
}

// openPlugins starts the plugins of every directory and maps their schemes.
func (s *connectorService) openPlugins() []error {
	if len(s.dirs) == 0 || s.procs != nil {
		return nil
	}
	s.procs = map[string]*plugin.Process{}
	cfg := s.pcfg
	if cfg.Logger == nil {
		cfg.Logger = s.log.Named("plugin")
	}
	var errs []error
	for _, dir := range s.dirs {
		ctx, cancel := context.WithTimeout(context.Background(), pluginStartTimeout)
		m, err := plugin.Open(ctx, dir, cfg)
		cancel()
		if err != nil {
			errs = append(errs, &ConfigError{Err: err})
			continue
		}
		s.mgrs = append(s.mgrs, m)
		for _, scheme := range m.Schemes() {
			p, _ := m.Lookup(scheme)
			if other, dup := s.procs[scheme]; dup {
				errs = append(errs, &ConfigError{Err: fmt.Errorf("scheme %q is served by two plugins: %s and %s", scheme, other.Info().Path, p.Info().Path)})
				continue
			}
			if _, dup := s.builders[scheme]; dup {
				errs = append(errs, &ConfigError{Err: fmt.Errorf("scheme %q is both linked in-process (WithConnector) and served by plugin %s", scheme, p.Info().Path)})
				continue
			}
			s.procs[scheme] = p
		}
	}
	return errs
}

// plan resolves an instance's kind.
func (s *connectorService) plan(d Instance) (*instancePlan, error) {
	if b, ok := s.builders[d.Plugin]; ok {
		p := &instancePlan{decl: d, builder: b}
		if desc, ok := b.(sdk.Describer); ok {
			p.desc = desc.Describe()
		}
		return p, nil
	}
	if proc, ok := s.procs[d.Plugin]; ok {
		k, _ := proc.Info().Kind(d.Plugin)
		return &instancePlan{decl: d, proc: proc, desc: k.Description}, nil
	}
	return nil, fmt.Errorf("no connector kind %q (kinds: %s)", d.Plugin, s.kindNames())
}

// checkCapability refuses a link direction a kind says it does not support.
func checkCapability(p *instancePlan, l LinkInfo) error {
	caps := p.desc.Capabilities
	if len(caps) == 0 {
		return nil // the kind does not say
	}
	want := sdk.CapOutbound
	if l.Direction == sdk.Inbound {
		want = sdk.CapInbound
	}
	for _, c := range caps {
		if c == want {
			return nil
		}
	}
	return fmt.Errorf("connector instance %q (%s) does not support %s links", p.decl.Name, p.kindLabel(), l.Direction)
}

// validateConfig runs the kind's configuration check without connecting anywhere.
func (s *connectorService) validateConfig(p *instancePlan) (err error) {
	specs := make([]sdk.LinkSpec, len(p.links))
	for i, l := range p.links {
		specs[i] = sdk.LinkSpec{Direction: l.Direction, Resource: l.URL.Resource(), Config: l.Options, Record: l.Record}
	}
	if p.proc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), pluginStartTimeout)
		defer cancel()
		return p.proc.Validate(ctx, p.decl.Plugin, p.decl.URL, p.decl.Options, specs)
	}
	u, err := instanceURL(p.decl)
	if err != nil {
		return err
	}
	v, ok := p.builder.(sdk.ConfigValidator)
	if !ok {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("config validator panicked: %v", r)
		}
	}()
	return v.ValidateConfig(u, p.decl.Options, specs)
}

// instanceURL parses the instance's URL; an empty one gives a URL with only the scheme.
func instanceURL(d Instance) (sdk.URL, error) {
	if d.URL == "" {
		return sdk.URL{Scheme: d.Plugin}, nil
	}
	u, err := sdk.ParseURL(d.URL)
	if err != nil {
		return sdk.URL{}, sdk.Wrap(sdk.KindInvalidConfig, err)
	}
	return u, nil
}

func (s *connectorService) instanceNames() string {
	if len(s.order) == 0 {
		return "none"
	}
	names := append([]string(nil), s.order...)
	sort.Strings(names)
	return fmt.Sprint(names)
}

// Start builds every instance, then starts one pump per outbound link.
func (s *connectorService) Start(_ context.Context, db *DB) error {
	// Pumps outlive Run's context: on shutdown they drain the closed buffers until
	// Stop's deadline, so they get their own.
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	for _, p := range s.plans {
		ri, err := s.startInstance(db, p)
		if err != nil {
			s.cancelRun()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.closeInstances(ctx)
			s.closePlugins(ctx)
			cancel()
			return fmt.Errorf("connector instance %q (%s): %w", p.decl.Name, p.kindLabel(), err)
		}
		s.mu.Lock()
		s.running = append(s.running, ri)
		s.mu.Unlock()
	}
	for _, ri := range s.running {
		for _, l := range ri.plan.links {
			if l.Direction != sdk.Outbound {
				continue
			}
			rd, err := db.OpenLinkReader(l.ID)
			if err != nil {
				return fmt.Errorf("link %s of record %q: %w", l.URL, l.Record, err)
			}
			s.pumps.Add(1)
			go s.pump(db, ri, l, rd)
		}
	}
	return nil
}

// Stop drains the outbound links within ctx's deadline, then closes the instances,
// then stops the plugins (an explicit shutdown call before the kill).
func (s *connectorService) Stop(ctx context.Context) error {
	if s.cancelRun == nil {
		s.closePlugins(ctx)
		return nil
	}
	drained := make(chan struct{})
	go func() { s.pumps.Wait(); close(drained) }()
	var errs []error
	select {
	case <-drained:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("connectors: outbound links not drained before the deadline: %w", ctx.Err()))
	}
	s.cancelRun()
	// Closing gets a short grace of its own when the drain used up the deadline.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > time.Second {
		cctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), dl)
	}
	defer cancel()
	errs = append(errs, s.closeInstances(cctx)...)
	if err := s.closePlugins(cctx); err != nil {
		errs = append(errs, err)
	}
	<-drained
	return errors.Join(errs...)
}

// closeInstances closes every running instance concurrently.
func (s *connectorService) closeInstances(ctx context.Context) []error {
	s.mu.Lock()
	running := s.running
	s.running = nil
	s.mu.Unlock()
	errs := make([]error, len(running))
	var wg sync.WaitGroup
	for i, ri := range running {
		wg.Go(func() {
			if err := ri.conn.close(ctx); err != nil {
				errs[i] = fmt.Errorf("connector instance %q: close: %w", ri.plan.decl.Name, err)
			}
		})
	}
	wg.Wait()
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// closePlugins shuts every plugin process down.
func (s *connectorService) closePlugins(ctx context.Context) error {
	var errs []error
	for _, m := range s.mgrs {
		errs = append(errs, m.Close(ctx))
	}
	s.mgrs = nil
	return errors.Join(errs...)
}
