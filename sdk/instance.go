package sdk

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// InstanceConfig says which connector instance to start and where its inbound
// messages go.
type InstanceConfig struct {
	Name    string
	URL     URL
	Options Config
	Routes  []Route
	// Outbound lists the instance's link_to links (see BuildContext.Outbound), each
	// with its ID: PublishBatch names links by it.
	Outbound []LinkSpec
	Sink     Sink
	Logger   hclog.Logger
	Host     Host
	// Redactor collects the instance's secrets (see BuildContext.Secrets); nil makes
	// one for the instance. The plugin server shares one among its instances, so that
	// everything the process logs is masked.
	Redactor *Redactor
}

// Instance is a running connector: the Connector a builder made, plus the goroutines
// it started. The plugin server and the in-process host both drive connectors through
// it, so a connector behaves the same either way. Its methods are safe for concurrent use.
type Instance struct {
	name  string
	conn  Connector
	red   *Redactor
	life  *lifetime
	links map[uint32]*linkOut    // link_to links by id
	dests map[string]*sync.Mutex // one unprepared publish per destination at a time

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
}

// Start builds a connector instance with builder. A panic in Build is returned as an
// error. The instance's secrets are registered with a Redactor first, and the SDK
// masks them in the connector's log lines and in every error the instance returns.
func Start(ctx context.Context, builder ConnectorBuilder, cfg InstanceConfig) (inst *Instance, err error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Options == nil {
		cfg.Options = Config{}
	}
	if cfg.Sink == nil {
		cfg.Sink = SinkFunc(func(m Message, ack func(error)) { ack(Errorf(KindNoRoute, "no sink for inbound messages")) })
	}
	if cfg.Host == nil {
		cfg.Host = noHost{}
	}
	if cfg.Redactor == nil {
		cfg.Redactor = NewRedactor()
	}
	red := cfg.Redactor
	links := append([]LinkSpec(nil), cfg.Outbound...)
	for _, r := range cfg.Routes {
		links = append(links, LinkSpec{ID: r.ID, Direction: Inbound, Resource: r.Resource, Config: r.Config, Record: r.Record})
	}
	red.Add(instanceSecrets(builder, cfg.URL, cfg.Options, links)...)
	life := newLifetime()
	b := &BuildContext{
		Instance: cfg.Name,
		URL:      cfg.URL,
		Options:  cfg.Options,
		Routes:   cfg.Routes,
		Outbound: cfg.Outbound,
		Router:   NewRouter(cfg.Routes, cfg.Sink),
		Logger:   RedactLogger(cfg.Logger, red),
		Host:     cfg.Host,
		Secrets:  red,
		life:     life,
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("connector %q: build panicked: %v\n%s", cfg.Name, r, debug.Stack())
		}
		if err != nil {
			err = red.Error(err)
			life.stop(context.Background())
		}
	}()
	conn, err := builder.Build(ctx, b)
	if err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, fmt.Errorf("connector %q: builder %q returned no connector", cfg.Name, builder.Scheme())
	}
	inst = &Instance{name: cfg.Name, conn: conn, red: red, life: life}
	if err := inst.prepareLinks(cfg.Outbound); err != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
		return nil, err
	}
	return inst, nil
}

// Name returns the instance's name.
func (i *Instance) Name() string { return i.name }

// Connector returns the connector the builder made.
func (i *Instance) Connector() Connector { return i.conn }

// Publish sends one message. It fails with ErrClosed after Close, and turns a panic
// in the connector into an error.
func (i *Instance) Publish(ctx context.Context, destination string, cfg Config, payload []byte) (err error) {
	if i.closed.Load() {
		return Errorf(KindClosed, "connector %q is closed", i.name)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("connector %q: publish to %q panicked: %v", i.name, destination, r)
		}
		err = i.red.Error(err)
	}()
	return i.conn.Publish(ctx, destination, cfg, payload)
}

// Health returns nil when the instance is healthy: no background goroutine panicked,
// and the connector, if it is a HealthChecker, says it is healthy.
func (i *Instance) Health(ctx context.Context) (err error) {
	if i.closed.Load() {
		return Errorf(KindClosed, "connector %q is closed", i.name)
	}
	if p := i.life.panicked.Load(); p != nil {
		return fmt.Errorf("connector %q: %s", i.name, *p)
	}
	hc, ok := i.conn.(HealthChecker)
	if !ok {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("connector %q: health check panicked: %v", i.name, r)
		}
		err = i.red.Error(err)
	}()
	return hc.Health(ctx)
}

// Close closes the connector, then cancels and waits for its goroutines, as far as ctx
// allows. Calling it again returns the first result.
func (i *Instance) Close(ctx context.Context) error {
	i.closeOnce.Do(func() {
		i.closed.Store(true)
		func() {
			defer func() {
				if r := recover(); r != nil {
					i.closeErr = fmt.Errorf("connector %q: close panicked: %v", i.name, r)
				}
			}()
			i.closeErr = i.conn.Close(ctx)
		}()
		if err := i.life.stop(ctx); err != nil && i.closeErr == nil {
			i.closeErr = fmt.Errorf("connector %q: %w", i.name, err)
		}
		i.closeErr = i.red.Error(i.closeErr)
	})
	return i.closeErr
}

// lifetime owns the goroutines of one instance.
type lifetime struct {
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	panicked atomic.Pointer[string]
}

func newLifetime() *lifetime {
	ctx, cancel := context.WithCancel(context.Background())
	return &lifetime{ctx: ctx, cancel: cancel}
}

func (l *lifetime) goroutine(name string, log hclog.Logger, f func(context.Context)) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				msg := fmt.Sprintf("goroutine %q panicked: %v", name, r)
				l.panicked.Store(&msg)
				log.Error("connector goroutine panicked", "goroutine", name, "panic", r, "stack", string(debug.Stack()))
			}
		}()
		f(l.ctx)
	}()
}

// stop cancels the goroutines and waits for them until ctx ends.
func (l *lifetime) stop(ctx context.Context) error {
	l.cancel()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return Errorf(KindTimeout, "background goroutines did not stop: %v", ctx.Err())
	}
}

type noHost struct{}

func (noHost) Latest(context.Context, string) ([]byte, error) {
	return nil, Errorf(KindRejected, "this host does not serve latest values")
}
