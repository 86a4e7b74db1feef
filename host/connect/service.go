package connect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/plugin"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// pluginStartTimeout bounds starting the plugins of a directory during Build.
const pluginStartTimeout = 30 * time.Second

// Service is the connector layer, a host.Service: Validate plans the instances and
// their links' policies, Start builds the instances and starts a pump per link_to,
// Stop drains the links, then closes the instances and plugins.
type Service struct {
	builders map[string]sdk.ConnectorBuilder
	dirs     []string
	pcfg     plugin.Config
	dataDir  string
	declared map[string]Instance
	order    []string
	errs     []error

	db    *host.DB
	log   hclog.Logger
	rate  *rateLog
	mgrs  []*plugin.Manager
	procs map[string]*plugin.Process // scheme -> plugin
	plans []*instancePlan

	runCtx    context.Context
	cancelRun context.CancelFunc
	workers   sync.WaitGroup // pumps, their transports, the monitor
	outboxes  *outboxes

	mu      sync.Mutex // guards running
	running []*running
	pumps   []*pump
	inbound map[int]*inboundLink // read without the lock once Start set it

	inboundList []*inboundLink             // the same, in link order, for status
	gates       map[string]*durableGate    // per record with a link_from and a disk outbox; set by Start
	status      map[string]*connectorState // by instance name
}

// instancePlan is one connector instance as Validate resolved it.
type instancePlan struct {
	decl     Instance
	builder  sdk.ConnectorBuilder // in-process kind, or
	proc     *plugin.Process      // plugin kind
	desc     sdk.Description
	links    []host.LinkInfo
	connOpts sdk.Config         // the instance's options for the connector
	defaults instanceDefaults   // its host-level options
	linkOpts map[int]sdk.Config // each link's options for the connector
	policies map[int]linkPolicy // each link's host-level options
}

// kindLabel says where the instance's kind runs, for messages.
func (p *instancePlan) kindLabel() string {
	if p.proc != nil {
		return fmt.Sprintf("kind %q from plugin %s", p.decl.Plugin, p.proc.Info().Path)
	}
	return fmt.Sprintf("in-process kind %q", p.decl.Plugin)
}

func newService() *Service {
	return &Service{builders: map[string]sdk.ConnectorBuilder{}, declared: map[string]Instance{}}
}

// Validate starts the plugins, resolves every link's scheme to a connector instance,
// parses the links' delivery options (setting their host.LinkPolicy), reports options
// no kind documents, and asks each instance's kind to check its configuration. Every
// mistake is a *host.ConfigError that says where it is: the instance, or the record
// and link, and the option.
func (s *Service) Validate(db *host.DB) []error {
	errs := append([]error(nil), s.errs...)
	s.db, s.log = db, db.Logger()
	s.rate = newRateLog(s.log)
	s.pcfg.KindEnv = s.kindEnv(db, s.pcfg.KindEnv)
	errs = append(errs, s.openPlugins(s.kindsNeeded(db))...)
	plans := map[string]*instancePlan{}
	for _, name := range s.order {
		d := s.declared[name]
		p, err := s.plan(d)
		if err != nil {
			errs = append(errs, instanceErrs(name, err)...)
			continue
		}
		errs = append(errs, instanceErrs(name, dropUnknown(p.desc, sdk.ScopeConnector, p.connOpts, instancePolicyOptions))...)
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
				errs = append(errs, &host.ConfigError{Record: l.Record, URL: l.URL.String(), Direction: l.Direction,
					Err: fmt.Errorf("no connector instance or kind named %q (declared instances: %s; kinds: %s)", name, s.instanceNames(), s.kindNames())})
				continue
			}
			plans[name] = p
			s.plans = append(s.plans, p)
		}
		if l.Direction == sdk.Inbound {
			if err := sdk.ValidatePattern(l.URL.Resource()); err != nil {
				errs = append(errs, linkErrs(l, err)...)
				continue
			}
		}
		if err := checkCapability(p, l); err != nil {
			errs = append(errs, linkErrs(l, err)...)
			continue
		}
		ok, err := s.planLink(db, p, l)
		errs = append(errs, linkErrs(l, err)...)
		if ok {
			p.links = append(p.links, l)
		}
	}
	for _, p := range s.plans {
		errs = append(errs, validationErrs(p, s.validateConfig(p))...)
	}
	if len(errs) > 0 {
		s.closePlugins(context.Background())
	}
	return errs
}

// kindEnv names, per connector kind, the environment variables its instances and
// their links name in "_env" options, besides those given (WithPluginConfig): what
// the kind's plugin process may see.
func (s *Service) kindEnv(db *host.DB, given map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, names := range given {
		out[k] = append([]string(nil), names...)
	}
	kindOf := func(instance string) string {
		if d, ok := s.declared[instance]; ok {
			return d.Plugin
		}
		return instance
	}
	for _, name := range s.order {
		d := s.declared[name]
		out[d.Plugin] = append(out[d.Plugin], d.Options.EnvNames()...)
	}
	for _, l := range db.Links() {
		k := kindOf(l.URL.Scheme)
		out[k] = append(out[k], l.Options.EnvNames()...)
	}
	return out
}

// planLink splits a link's options, reports those its kind does not document (and
// drops them), parses its policy and sets it on the DB. ok is false when the link
// cannot be used at all; with only unknown options it can, so its kind checks it too.
func (s *Service) planLink(db *host.DB, p *instancePlan, l host.LinkInfo) (ok bool, err error) {
	names := linkToPolicyOptions
	scope := sdk.ScopeLinkTo
	if l.Direction == sdk.Inbound {
		names, scope = linkFromPolicyOptions, sdk.ScopeLinkFrom
	}
	hostOpts, connOpts := splitOptions(l.Options, names)
	unknown := dropUnknown(p.desc, scope, connOpts, append(slices.Clone(names), "codec"))
	pol, err := parseLinkPolicy(l.Direction, hostOpts, connOpts, p.defaults, qosDefault(p.desc))
	if err != nil {
		return false, errors.Join(unknown, err)
	}
	hold := l.Direction == sdk.Outbound && (pol.delivery == AtLeastOnce || pol.outbox == OutboxDisk)
	if err := db.SetLinkPolicy(l.ID, host.LinkPolicy{Hold: hold, DeadLetter: pol.deadLetter}); err != nil {
		return false, errors.Join(unknown, sdk.OptionErrorf(sdk.KindInvalidConfig, "dead_letter", "%v", err))
	}
	p.linkOpts[l.ID], p.policies[l.ID] = connOpts, pol
	return true, unknown
}

// qosDefault is the kind's documented default of the link_to option qos, if any.
func qosDefault(d sdk.Description) string {
	for _, o := range d.Options {
		if o.Name == "qos" && o.Scope == sdk.ScopeLinkTo {
			return o.Default
		}
	}
	return ""
}

// kindsNeeded lists the connector kinds the configuration uses that no in-process
// builder serves: the declared instances' and those of link schemes no instance
// declares.
func (s *Service) kindsNeeded(db *host.DB) []string {
	seen := map[string]bool{}
	kinds := []string{}
	add := func(k string) {
		if _, inProcess := s.builders[k]; !inProcess && !seen[k] {
			seen[k] = true
			kinds = append(kinds, k)
		}
	}
	for _, name := range s.order {
		add(s.declared[name].Plugin)
	}
	for _, l := range db.Links() {
		if _, declared := s.declared[l.URL.Scheme]; !declared {
			add(l.URL.Scheme)
		}
	}
	return kinds
}

// openPlugins starts the plugins of every directory that serve the kinds the
// configuration needs, and maps their schemes.
func (s *Service) openPlugins(kinds []string) []error {
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
		m, err := plugin.OpenFor(ctx, dir, cfg, kinds)
		cancel()
		if err != nil {
			errs = append(errs, &host.ConfigError{Err: err})
			continue
		}
		s.mgrs = append(s.mgrs, m)
		for _, scheme := range m.Schemes() {
			p, _ := m.Lookup(scheme)
			if other, dup := s.procs[scheme]; dup {
				errs = append(errs, &host.ConfigError{Err: fmt.Errorf("scheme %q is served by two plugins: %s and %s", scheme, other.Info().Path, p.Info().Path)})
				continue
			}
			if _, dup := s.builders[scheme]; dup {
				errs = append(errs, &host.ConfigError{Err: fmt.Errorf("scheme %q is both linked in-process (WithConnector) and served by plugin %s", scheme, p.Info().Path)})
				continue
			}
			s.procs[scheme] = p
		}
	}
	return errs
}

// plan resolves an instance's kind and its host-level options.
func (s *Service) plan(d Instance) (*instancePlan, error) {
	hostOpts, connOpts := splitOptions(d.Options, instancePolicyOptions)
	defaults, err := parseInstanceDefaults(hostOpts)
	if err != nil {
		return nil, err
	}
	p := &instancePlan{decl: d, connOpts: connOpts, defaults: defaults, linkOpts: map[int]sdk.Config{}, policies: map[int]linkPolicy{}}
	if b, ok := s.builders[d.Plugin]; ok {
		p.builder = b
		if desc, ok := b.(sdk.Describer); ok {
			p.desc = desc.Describe()
		}
		return p, nil
	}
	if proc, ok := s.procs[d.Plugin]; ok {
		k, _ := proc.Info().Kind(d.Plugin)
		p.proc, p.desc = proc, k.Description
		return p, nil
	}
	return nil, &sdk.OptionError{Option: "plugin", Err: fmt.Errorf("no connector kind %q (kinds: %s)", d.Plugin, s.kindNames())}
}

// checkCapability refuses a link direction a kind says it does not support.
func checkCapability(p *instancePlan, l host.LinkInfo) error {
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
func (s *Service) validateConfig(p *instancePlan) (err error) {
	specs := make([]sdk.LinkSpec, len(p.links))
	for i, l := range p.links {
		specs[i] = sdk.LinkSpec{ID: uint32(l.ID), Direction: l.Direction, Resource: l.URL.Resource(), Config: p.linkOpts[l.ID], Record: l.Record}
	}
	if p.proc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), pluginStartTimeout)
		defer cancel()
		return p.proc.Validate(ctx, p.decl.Plugin, p.decl.URL, p.connOpts, specs)
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
	return v.ValidateConfig(u, p.connOpts, specs)
}

// instanceURL parses the instance's URL strictly (sdk.ParseConnectorURL); an empty
// one gives a URL with only the scheme.
func instanceURL(d Instance) (sdk.URL, error) {
	if d.URL == "" {
		return sdk.URL{Scheme: d.Plugin}, nil
	}
	u, err := sdk.ParseConnectorURL(d.URL)
	if err != nil {
		return sdk.URL{}, &sdk.Error{Kind: sdk.KindInvalidConfig, Err: &sdk.OptionError{Option: "url", Err: err}}
	}
	return u, nil
}

func (s *Service) instanceNames() string {
	if len(s.order) == 0 {
		return "none"
	}
	names := append([]string(nil), s.order...)
	sort.Strings(names)
	return fmt.Sprint(names)
}

// Start builds every instance, then starts a pump per link_to and the monitor.
func (s *Service) Start(_ context.Context, db *host.DB) error {
	// Pumps outlive Run's context: on shutdown they drain the closed buffers until
	// Stop's deadline, so they get their own.
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	inbound := map[int]*inboundLink{}
	var list []*inboundLink
	fail := func(err error) error {
		s.cancelRun()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.closeInstances(ctx)
		s.closePlugins(ctx)
		s.outboxes.close()
		cancel()
		return err
	}
	s.gates = durableGates(s.plans)
	for _, p := range s.plans {
		for _, l := range p.links {
			if l.Direction == sdk.Inbound {
				il := &inboundLink{svc: s, db: db, info: l, inst: p.decl.Name, ctx: s.runCtx, gate: s.gates[l.Record]}
				inbound[l.ID] = il
				list = append(list, il)
			}
		}
	}
	s.mu.Lock()
	s.inbound, s.inboundList = inbound, list
	s.status = map[string]*connectorState{}
	s.mu.Unlock()
	var err error
	if s.outboxes, err = openOutboxes(s.dataDir, s.plans, s.log); err != nil {
		return fail(err)
	}
	for _, p := range s.plans {
		ctx, cancel := context.WithTimeout(s.runCtx, pluginStartTimeout)
		r, err := s.startInstance(ctx, p)
		cancel()
		if err != nil {
			return fail(fmt.Errorf("connector instance %q (%s): %w", p.decl.Name, p.kindLabel(), err))
		}
		s.mu.Lock()
		s.running = append(s.running, r)
		s.status[p.decl.Name] = &connectorState{state: "starting", since: time.Now()}
		s.mu.Unlock()
		s.log.Info("connector instance started", "instance", p.decl.Name, "kind", p.kindLabel(), "links", len(p.links))
	}
	for _, r := range s.running {
		for _, l := range r.plan.links {
			if l.Direction != sdk.Outbound {
				continue
			}
			if err := s.startPump(db, r, l); err != nil {
				return fail(err)
			}
		}
	}
	s.workers.Add(1)
	go s.monitor()
	return nil
}

// startPump starts the pump of one link_to with its source and transport.
func (s *Service) startPump(db *host.DB, r *running, l host.LinkInfo) error {
	rd, err := db.OpenLinkReader(l.ID)
	if err != nil {
		return fmt.Errorf("link %s of record %q: %w", l.URL, l.Record, err)
	}
	pol := r.plan.policies[l.ID]
	var src source = ringSource{rd}
	if pol.outbox == OutboxDisk {
		if src, err = s.outboxes.source(s.runCtx, db, r.plan.decl.Name, l, rd, pol, s.gates[l.Record], &s.workers); err != nil {
			rd.Close()
			return fmt.Errorf("link %s of record %q: %w", l.URL, l.Record, err)
		}
	}
	var tr transport
	if r.remote != nil {
		tr = remoteTransport{r.remote}
	} else {
		tr = newLocalTransport(r.local)
	}
	p := newPump(s, db, l, r.plan.decl.Name, pol, src, tr)
	if info, ok := db.Record(l.Record); ok && pol.outbox != OutboxDisk {
		p.newestWins = info.Buffer != "spmc_ring"
	}
	if lt, ok := tr.(*localTransport); ok {
		s.workers.Add(1)
		go lt.work(s.runCtx, p, &s.workers)
	}
	s.mu.Lock()
	s.pumps = append(s.pumps, p)
	s.mu.Unlock()
	s.workers.Add(1)
	go func() {
		defer s.workers.Done()
		defer src.close()
		p.run(s.runCtx)
	}()
	return nil
}

// Stop drains the outbound links within ctx's deadline (plugins are no longer
// restarted meanwhile), logs every link that could not deliver everything, then
// closes the instances and stops the plugins (an explicit shutdown call before the
// kill). Dead-letter records are drained last, after the links that feed them.
func (s *Service) Stop(ctx context.Context) error {
	for _, m := range s.mgrs {
		m.Drain()
	}
	if s.cancelRun == nil {
		s.closePlugins(ctx)
		return nil
	}
	var errs []error
	s.mu.Lock()
	pumps := append([]*pump(nil), s.pumps...)
	s.mu.Unlock()
	var feeders, dlPumps []*pump
	for _, p := range pumps {
		if s.db.IsDeadLetterRecord(p.info.Record) {
			dlPumps = append(dlPumps, p)
		} else {
			feeders = append(feeders, p)
		}
	}
	drained := waitFinished(ctx, feeders)
	s.db.CloseDeadLetters()
	drained = waitFinished(ctx, dlPumps) && drained
	if !drained {
		if err := s.reportUndelivered(pumps); err != nil {
			errs = append(errs, err)
		}
	}
	s.cancelRun()
	// Closing gets a short grace of its own when the drain used up the deadline.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > time.Second {
		cctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), dl)
	}
	defer cancel()
	for _, il := range s.inbound {
		il.failHeld(sdk.Errorf(sdk.KindClosed, "link %s -> record %q: shutting down", il.info.URL, il.info.Record))
	}
	errs = append(errs, s.closeInstances(cctx)...)
	if err := s.closePlugins(cctx); err != nil {
		errs = append(errs, err)
	}
	s.workers.Wait()
	s.outboxes.close()
	return errors.Join(errs...)
}

// waitFinished waits until every pump finished or ctx ends; it reports whether all did.
func waitFinished(ctx context.Context, pumps []*pump) bool {
	for _, p := range pumps {
		for !p.finished() {
			select {
			case <-p.idle:
			case <-ctx.Done():
				return false
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return true
}

// reportUndelivered logs, per link, what the drain left undelivered, and returns an
// error counting the values lost (those not kept in a disk outbox).
func (s *Service) reportUndelivered(pumps []*pump) error {
	var lost uint64
	for _, p := range pumps {
		n := p.undelivered()
		if n == 0 {
			continue
		}
		if p.pol.outbox == OutboxDisk {
			s.log.Warn("drain deadline: values left undelivered are kept in the disk outbox and sent after the next start",
				"record", p.info.Record, "link", p.info.URL.String(), "undelivered", n)
			continue
		}
		lost += n
		s.log.Error("drain deadline: values left undelivered are lost", "record", p.info.Record, "link", p.info.URL.String(), "undelivered", n)
	}
	if lost > 0 {
		return fmt.Errorf("connectors: %d values were not delivered before the drain deadline (see the log, per link)", lost)
	}
	return nil
}

// closeInstances closes every running instance concurrently.
func (s *Service) closeInstances(ctx context.Context) []error {
	s.mu.Lock()
	running := s.running
	s.running = nil
	s.mu.Unlock()
	errs := make([]error, len(running))
	var wg sync.WaitGroup
	for i, r := range running {
		wg.Go(func() {
			if err := r.close(ctx); err != nil {
				errs[i] = fmt.Errorf("connector instance %q: close: %w", r.plan.decl.Name, err)
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
func (s *Service) closePlugins(ctx context.Context) error {
	var errs []error
	for _, m := range s.mgrs {
		errs = append(errs, m.Close(ctx))
	}
	s.mgrs = nil
	return errors.Join(errs...)
}
