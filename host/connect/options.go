package connect

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/plugin"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// ServiceName is the name the connector layer registers itself under.
const ServiceName = "connectors"

// Instance declares a connector instance: links whose scheme is Name go to it.
type Instance struct {
	// Name is what link URLs use as their scheme ("plant-b" for "plant-b://alerts").
	Name string
	// Plugin is the connector kind (the scheme a builder or plugin serves); it
	// defaults to Name.
	Plugin string
	// URL is the connector's own URL (broker, gateway, base URL); it may be empty.
	URL string
	// Options are the connector block's options, the host-level ones (retry_min,
	// retry_max, retry_for) included.
	Options sdk.Config
}

// WithConnector links a connector kind into the host process: links and instances of
// its scheme run in-process, with the same lifecycle (run.Start) as in a plugin.
func WithConnector(b sdk.ConnectorBuilder) host.Option {
	return func(hb *host.Builder) {
		s := serviceOf(hb)
		if b == nil {
			s.errs = append(s.errs, &host.ConfigError{Err: fmt.Errorf("WithConnector: nil builder")})
			return
		}
		scheme := b.Scheme()
		if _, dup := s.builders[scheme]; dup {
			s.errs = append(s.errs, &host.ConfigError{Err: fmt.Errorf("connector kind %q linked in twice", scheme)})
			return
		}
		s.builders[scheme] = b
	}
}

// WithPlugins runs the connector plugins found in dir; their schemes become connector
// kinds. Files that are not plugins are skipped with a warning.
func WithPlugins(dir string) host.Option {
	return func(hb *host.Builder) {
		s := serviceOf(hb)
		s.dirs = append(s.dirs, dir)
	}
}

// WithPluginConfig tunes plugin start-up and supervision (timeouts, restart policy,
// socket directory). The plugin logger defaults to the builder's logger named "plugin".
func WithPluginConfig(cfg plugin.Config) host.Option {
	return func(hb *host.Builder) { serviceOf(hb).pcfg = cfg }
}

// WithDataDir sets the data directory that holds disk outboxes (outbox = "disk").
// It is opened only when a link asks for a disk outbox.
func WithDataDir(dir string) host.Option {
	return func(hb *host.Builder) { serviceOf(hb).dataDir = dir }
}

// WithInstance declares a connector instance. A link scheme without a declared
// instance uses the kind of that name with an empty URL and no options.
func WithInstance(i Instance) host.Option {
	return func(hb *host.Builder) {
		s := serviceOf(hb)
		if i.Plugin == "" {
			i.Plugin = i.Name
		}
		if i.Options == nil {
			i.Options = sdk.Config{}
		}
		if _, err := sdk.ParseURL(i.Name + "://x"); err != nil || i.Name == "" {
			s.errs = append(s.errs, &host.ConfigError{Instance: i.Name, Err: fmt.Errorf("the name must be usable as a URL scheme (a letter, then letters, digits, '+', '-', '.', '_')")})
			return
		}
		if _, dup := s.declared[i.Name]; dup {
			s.errs = append(s.errs, &host.ConfigError{Instance: i.Name, Err: fmt.Errorf("declared twice")})
			return
		}
		s.declared[i.Name] = i
		s.order = append(s.order, i.Name)
	}
}

// serviceOf returns the builder's connector service, registering it on first use.
func serviceOf(b *host.Builder) *Service {
	if s, ok := b.Service(ServiceName).(*Service); ok {
		return s
	}
	s := newService()
	b.AddService(ServiceName, s)
	return s
}

// Of returns the connector layer of db, or nil when it has none.
func Of(db *host.DB) *Service {
	s, _ := db.Service(ServiceName).(*Service)
	return s
}

// kindNames lists every kind the service knows, for error messages.
func (s *Service) kindNames() string {
	var names []string
	for k := range s.builders {
		names = append(names, k)
	}
	for k := range s.procs {
		names = append(names, k)
	}
	for _, m := range s.mgrs {
		names = append(names, m.Available()...)
	}
	sort.Strings(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return "none: no plugins were found and none is linked in"
	}
	return strings.Join(names, ", ")
}
