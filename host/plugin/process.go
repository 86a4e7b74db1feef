package plugin

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire/client"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Process is one supervised plugin process and the connector instances it serves.
// When the process dies it is started again with backoff, for ever (a crash loop is
// reported, never given up), and its instances are built again; while it is down,
// publishing fails fast with a retryable error, so the links retry. Its methods are
// safe for concurrent use.
type Process struct {
	path string
	cfg  Config
	log  hclog.Logger

	mu       sync.Mutex
	gen      *generation // the live process; nil while down
	info     Info
	closed   bool
	draining bool
	insts    map[uint64]*Instance
	nextInst uint64
	state    State
	recent   []time.Time   // restarts inside the restart window
	done     chan struct{} // closed when supervision ended
	closeCh  chan struct{} // closed when Close or Drain begins
}

// State is a plugin process's supervision state.
type State struct {
	// Up is true while the process runs and its data stream is open.
	Up bool
	// Pid is the running process's id, or the last one's while down.
	Pid int
	// Restarts counts restarts since the host started.
	Restarts int
	// CrashLoop is true while the process restarts more than the policy's limit
	// inside its window; restarts go on with the capped backoff.
	CrashLoop bool
	// Err is why the process is down (nil while up); NextRestart when it comes back.
	Err         error
	NextRestart time.Time
	// Since is when Up last changed.
	Since time.Time
}

// generation is one run of the plugin process with its data stream.
type generation struct {
	conn *client.Conn
	data *client.Data
	dead chan struct{}
	once sync.Once
	err  error
}

func (g *generation) die(err error) {
	g.once.Do(func() {
		g.err = err
		close(g.dead)
	})
}

// Start launches the plugin at path and supervises it until Close.
func Start(ctx context.Context, path string, cfg Config) (*Process, error) {
	cfg = cfg.withDefaults()
	p := &Process{
		path:    path,
		cfg:     cfg,
		insts:   map[uint64]*Instance{},
		done:    make(chan struct{}),
		closeCh: make(chan struct{}),
	}
	g, err := p.launch(ctx)
	if err != nil {
		return nil, err
	}
	p.info = g.conn.Info()
	p.log = cfg.Logger.With("plugin", p.info.Name)
	p.gen = g
	p.state = State{Up: true, Pid: g.conn.Pid(), Since: time.Now()}
	go p.supervise(g)
	return p, nil
}

// launch starts a process, opens its data stream and watches it. The process gets
// the variables of the kinds it serves (Config.KindEnv): at the first start those of
// the kind its file is named after (the usual layout); if it turns out to serve other
// kinds, it is started again with theirs, so no plugin keeps a secret it does not need.
func (p *Process) launch(ctx context.Context) (*generation, error) {
	p.mu.Lock()
	kinds := p.info.Schemes()
	p.mu.Unlock()
	if len(kinds) == 0 {
		kinds = []string{filepath.Base(p.path)}
	}
	c, err := client.Launch(ctx, p.path, p.cfg.options(kinds))
	if err != nil {
		return nil, err
	}
	if served := c.Info().Schemes(); !slices.Equal(p.cfg.envNames(served), p.cfg.envNames(kinds)) {
		c.Kill()
		if c, err = client.Launch(ctx, p.path, p.cfg.options(served)); err != nil {
			return nil, err
		}
	}
	g := &generation{conn: c, dead: make(chan struct{})}
	g.data, err = c.OpenData(client.Handler{Deliver: p.deliver, Latest: p.latest})
	if err != nil {
		c.Kill()
		return nil, err
	}
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-g.data.Dead():
				g.die(fmt.Errorf("data stream: %w", g.data.Err()))
				return
			case <-g.dead:
				return
			case <-t.C:
				if c.Exited() {
					g.die(errors.New("process exited"))
					return
				}
			}
		}
	}()
	return g, nil
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
	return p.gen.conn.Pid()
}

// State returns the supervision state.
func (p *Process) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// supervise waits for the generation to die and brings the plugin back, for ever.
func (p *Process) supervise(g *generation) {
	<-g.dead
	g.data.Close()
	g.conn.Kill()
	p.mu.Lock()
	p.gen = nil
	stop := p.closed || p.draining
	p.state.Up, p.state.Err, p.state.Since = false, g.err, time.Now()
	p.mu.Unlock()
	if stop {
		if !p.closedNow() {
			p.log.Warn("plugin stopped while the host drains; it is not restarted", "cause", g.err)
		}
		close(p.done)
		return
	}
	p.log.Error("plugin stopped; restarting it", "cause", g.err)
	for {
		now := time.Now()
		p.mu.Lock()
		recent := p.recent[:0]
		for _, t := range p.recent {
			if now.Sub(t) < p.cfg.Restart.Window {
				recent = append(recent, t)
			}
		}
		p.recent = recent
		n := len(recent)
		loop := n >= p.cfg.Restart.Limit
		wasLoop := p.state.CrashLoop
		delay := p.cfg.Restart.delay(n)
		p.state.CrashLoop, p.state.NextRestart = loop, now.Add(delay)
		p.mu.Unlock()
		if loop && !wasLoop {
			p.log.Error("plugin is in a crash loop; restarting it with backoff", "restarts", n, "window", p.cfg.Restart.Window, "next_in", delay, "last_cause", g.err)
		}
		select {
		case <-time.After(delay):
		case <-p.closeCh:
			close(p.done)
			return
		}
		p.mu.Lock()
		p.recent = append(p.recent, time.Now())
		p.state.Restarts++
		p.mu.Unlock()
		ng, err := p.restart()
		if err == nil {
			p.log.Info("plugin restarted", "pid", ng.conn.Pid())
			go p.supervise(ng)
			return
		}
		p.mu.Lock()
		p.state.Err = err
		p.mu.Unlock()
		p.log.Error("plugin restart failed", "error", err)
	}
}

func (p *Process) closedNow() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// restart launches the plugin again and builds its instances again.
func (p *Process) restart() (*generation, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.StartTimeout+p.cfg.CallTimeout)
	defer cancel()
	g, err := p.launch(ctx)
	if err != nil {
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
		if err := g.conn.Build(ctx, i.buildSpec()); err != nil {
			g.die(err)
			g.data.Close()
			g.conn.Kill()
			return nil, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.draining {
		g.die(errors.New("closed during restart"))
		g.data.Close()
		g.conn.Kill()
		return nil, errors.New("closed during restart")
	}
	p.info = g.conn.Info()
	p.gen = g
	p.state = State{Up: true, Pid: g.conn.Pid(), Restarts: p.state.Restarts, CrashLoop: p.state.CrashLoop, Since: time.Now()}
	return g, nil
}

// live returns the live generation, or a retryable error while the plugin is down.
func (p *Process) live() (*generation, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return nil, sdk.Errorf(sdk.KindClosed, "plugin %s is closed", p.info.Name)
	case p.gen == nil:
		return nil, sdk.Errorf(sdk.KindConnectionFailed, "plugin %s is down (restarting): %v", p.info.Name, p.state.Err)
	}
	return p.gen, nil
}

// deliver hands an inbound message to its instance.
func (p *Process) deliver(m Inbound, settle func(error)) (error, bool) {
	inst := p.instance(m.Instance)
	if inst == nil {
		return sdk.Errorf(sdk.KindClosed, "no instance %d", m.Instance), true
	}
	return inst.deliver(m, settle)
}

// latest answers an instance's sdk.Host.Latest.
func (p *Process) latest(ctx context.Context, id uint64, resource string) ([]byte, error) {
	inst := p.instance(id)
	switch {
	case inst == nil:
		return nil, sdk.Errorf(sdk.KindClosed, "no instance %d", id)
	case inst.spec.Latest == nil:
		return nil, sdk.Errorf(sdk.KindRejected, "instance %q: the host serves no latest values", inst.spec.Name)
	}
	return inst.spec.Latest(ctx, resource)
}

func (p *Process) instance(id uint64) *Instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.insts[id]
}

// Drain stops restarting the plugin: the host is shutting down and will close it.
func (p *Process) Drain() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.draining && !p.closed {
		p.draining = true
		close(p.closeCh)
	}
}

// Close shuts the plugin down: an explicit Shutdown call that closes every instance
// within ctx's deadline, then the process is stopped.
func (p *Process) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closed = true
	if !p.draining {
		p.draining = true
		close(p.closeCh)
	}
	g := p.gen
	p.mu.Unlock()
	var err error
	if g != nil {
		err = g.conn.Shutdown(ctx)
		g.die(errors.New("closed"))
	}
	select {
	case <-p.done:
	case <-ctx.Done():
	}
	if g != nil {
		g.data.Close()
		g.conn.Kill()
	}
	return err
}

// Validate asks the plugin to check an instance's URL, options and links.
func (p *Process) Validate(ctx context.Context, scheme, url string, options sdk.Config, links []sdk.LinkSpec) error {
	g, err := p.live()
	if err != nil {
		return err
	}
	ls := make([]client.Link, len(links))
	for i, l := range links {
		ls[i] = client.Link{ID: l.ID, Direction: l.Direction, Resource: l.Resource, Options: l.Config, Record: l.Record}
	}
	return g.conn.Validate(ctx, scheme, url, options, ls)
}
