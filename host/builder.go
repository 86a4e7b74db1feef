package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultDrainTimeout bounds how long shutdown waits for services to stop.
const DefaultDrainTimeout = 5 * time.Second

// Service is an extension that runs beside the records: the connector layer is one.
// Build calls Validate once the records and links exist; Run calls Start after the
// stages started, and on shutdown calls Stop after the stages stopped and the buffers
// closed, so outbound link readers hand out what is left and then report ErrClosed.
// Stop's context carries the drain deadline (WithDrainTimeout). A DB that never runs
// stops its services too, so they release what Validate acquired (plugin processes):
// Build stops them when it fails, and Close stops them on a DB that was built but not run.
type Service interface {
	// Validate checks the service's view of the DB (for example that every link's
	// scheme names a connector) and returns every problem; use *ConfigError.
	Validate(db *DB) []error
	// Start starts the service; ctx ends when Run ends. It must not block for long.
	Start(ctx context.Context, db *DB) error
	// Stop stops the service, waiting at most until ctx's deadline.
	Stop(ctx context.Context) error
}

// Option configures a Builder; the connector layer adds its own (WithConnector ...).
type Option func(*Builder)

// WithService registers s under name, as AddService does.
func WithService(name string, s Service) Option {
	return func(b *Builder) { b.AddService(name, s) }
}

// WithDrainTimeout sets how long shutdown waits for services to drain and stop.
func WithDrainTimeout(d time.Duration) Option {
	return func(b *Builder) { b.drain = d }
}

// WithLogger sets the logger for stage failures and dropped link values.
func WithLogger(l hclog.Logger) Option {
	return func(b *Builder) {
		if l != nil {
			b.log = l
		}
	}
}

// Builder collects record declarations and services, then builds a DB. It is not safe
// for concurrent use.
type Builder struct {
	records  map[string]anyRecord
	order    []string // record keys in declaration order
	services []namedService
	errs     []error
	drain    time.Duration
	log      hclog.Logger
	built    bool
}

type namedService struct {
	name string
	svc  Service
}

// NewBuilder returns an empty builder with opts applied.
func NewBuilder(opts ...Option) *Builder {
	b := &Builder{records: map[string]anyRecord{}, drain: DefaultDrainTimeout, log: hclog.NewNullLogger()}
	for _, o := range opts {
		if o != nil {
			o(b)
		}
	}
	return b
}

// Apply applies more options after NewBuilder.
func (b *Builder) Apply(opts ...Option) *Builder {
	for _, o := range opts {
		if o != nil {
			o(b)
		}
	}
	return b
}

// AddService registers s under name. A second service with the same name is a
// configuration error reported by Build.
func (b *Builder) AddService(name string, s Service) {
	if s == nil {
		b.errs = append(b.errs, &ConfigError{Err: fmt.Errorf("service %q is nil", name)})
		return
	}
	if b.Service(name) != nil {
		b.errs = append(b.errs, &ConfigError{Err: fmt.Errorf("service %q registered twice", name)})
		return
	}
	b.services = append(b.services, namedService{name, s})
}

// Service returns the service registered under name, or nil. Options use it to find
// the service they extend (for example the connector layer adding one more connector).
func (b *Builder) Service(name string) Service {
	for _, s := range b.services {
		if s.name == name {
			return s.svc
		}
	}
	return nil
}

// Logger returns the builder's logger.
func (b *Builder) Logger() hclog.Logger { return b.log }

// errorf records a configuration error for record key (and link url, if any).
func (b *Builder) errorf(key, url string, format string, args ...any) {
	b.errs = append(b.errs, &ConfigError{Record: key, URL: url, Err: fmt.Errorf(format, args...)})
}

// Build checks the whole configuration and returns the DB, or every mistake at once
// joined with errors.Join (each a *ConfigError naming the record and link). A Builder
// builds once.
func (b *Builder) Build() (*DB, error) {
	if b.built {
		return nil, &ConfigError{Err: errors.New("builder already built")}
	}
	b.built = true
	b.declareDeadLetters()
	errs := append([]error(nil), b.errs...)
	db := newDB(b)
	for _, key := range b.order {
		errs = append(errs, b.records[key].build(db)...)
	}
	errs = append(errs, db.bindStages()...)
	errs = append(errs, checkWriters(db)...)
	g, cycleErrs := buildGraph(db)
	db.graph = g
	errs = append(errs, cycleErrs...)
	for _, s := range db.services {
		errs = append(errs, s.svc.Validate(db)...)
	}
	if err := errors.Join(errs...); err != nil {
		db.closeBuffers()
		db.stopServices(context.Background(), len(db.services))
		return nil, err
	}
	db.subscribe()
	return db, nil
}
