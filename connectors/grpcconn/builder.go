package grpcconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Version is the connector's version, reported by Describe.
const Version = "0.1.0"

// Builder makes gRPC connector instances, scheme "grpc".
type Builder struct{}

// NewBuilder returns the gRPC connector kind.
func NewBuilder() sdk.ConnectorBuilder { return Builder{} }

// Scheme returns "grpc".
func (Builder) Scheme() string { return "grpc" }

// Describe documents the connector's version, capabilities and options.
func (Builder) Describe() sdk.Description {
	opts := make([]sdk.OptionDoc, len(optionDocs))
	copy(opts, optionDocs)
	return sdk.Description{
		Version:      Version,
		Capabilities: []string{sdk.CapOutbound, sdk.CapInbound, sdk.CapHealth},
		Options:      opts,
		MaxPayload:   MaxPayload,
	}
}

// ValidateConfig checks the URL, the options (reading the TLS and .proto files they
// name) and the links without connecting. With proto_files, each link's method,
// payload_field and request are checked against the descriptors; with reflection
// that waits for the server. Every mistake is reported, each at its option and link.
func (Builder) ValidateConfig(u sdk.URL, options sdk.Config, links []sdk.LinkSpec) error {
	s, err := parseSettings(u, options)
	errs := []error{err}
	if s != nil && s.tls {
		_, err := s.tlsConfig()
		errs = append(errs, err)
	}
	// The links are checked against proto_files even when another option is wrong.
	var sch *schema
	if files := list(options.String(optProtoFiles, "")); len(files) > 0 && (s != nil || !about(err, optProtoFiles, optImportPaths)) {
		reg, err := compileProtos(context.Background(), files, list(options.String(optImportPaths, "")))
		errs = append(errs, err)
		if reg != nil {
			sch = &schema{files: reg}
		}
	}
	streams := map[method]linkOptions{}
	for _, l := range links {
		m, lo, err := parseLink(l.Direction, l.Resource, l.Config)
		if err == nil && l.Direction == sdk.Inbound {
			err = sameStream(streams, m, lo)
			if err == nil && !json.Valid([]byte(lo.request)) {
				err = sdk.OptionErrorf(sdk.KindInvalidConfig, optRequest, "not valid JSON: %q", lo.request)
			}
		}
		if err == nil && sch != nil {
			_, err = sch.resolve(context.Background(), nil, l.Direction, m, lo)
		}
		errs = append(errs, sdk.ForLink(l, err))
	}
	return errors.Join(errs...)
}

// about reports whether err is about one of options.
func about(err error, options ...string) bool {
	var oe *sdk.OptionError
	return errors.As(err, &oe) && slices.Contains(options, oe.Option)
}

// sameStream records the options of a link_from of m, and fails when another
// link_from of m asked for other ones: the connector opens one stream per method.
func sameStream(streams map[method]linkOptions, m method, lo linkOptions) error {
	if old, ok := streams[m]; ok && old != lo {
		return sdk.Errorf(sdk.KindInvalidConfig, "another link_from of this connector opens method %s with other options; one stream per method feeds every link_from that names it, so give them the same options", m)
	}
	streams[m] = lo
	return nil
}

// Build makes one connector instance: it checks the configuration, compiles the
// .proto files, and connects in the background (a server that is not up yet is
// retried with backoff, so Build succeeds without one). It waits for the first
// connection attempt at most connect_timeout (or 3 s).
func (Builder) Build(ctx context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
	s, err := parseSettings(b.URL, b.Options)
	if err != nil {
		return nil, err
	}
	sch := &schema{timeout: s.timeout}
	if len(s.protoFiles) > 0 {
		if sch.files, err = compileProtos(ctx, s.protoFiles, s.importPaths); err != nil {
			return nil, err
		}
	}
	var ins []*inStream
	byMethod := map[method]*inStream{}
	seen := map[method]linkOptions{}
	for _, r := range b.Routes {
		spec := sdk.LinkSpec{ID: r.ID, Direction: sdk.Inbound, Resource: r.Resource, Config: r.Config, Record: r.Record}
		m, lo, err := parseLink(sdk.Inbound, r.Resource, r.Config)
		if err == nil {
			err = sameStream(seen, m, lo)
		}
		if err == nil && sch.files != nil {
			_, err = sch.resolve(ctx, nil, sdk.Inbound, m, lo)
		}
		if err != nil {
			return nil, sdk.ForLink(spec, err)
		}
		if byMethod[m] == nil {
			in := &inStream{m: m, lo: lo, topic: r.Resource}
			byMethod[m] = in
			ins = append(ins, in)
		}
	}
	creds := insecure.NewCredentials()
	if s.tls {
		tc, err := s.tlsConfig()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(tc)
	}
	addrs := make([]resolver.Address, len(s.addrs))
	for i, a := range s.addrs {
		addrs[i] = resolver.Address{Addr: a}
	}
	res := manual.NewBuilderWithScheme("aimdb-grpc")
	res.InitialState(resolver.State{Addresses: addrs})
	cc, err := grpc.NewClient(res.Scheme()+":///"+b.Instance,
		grpc.WithResolvers(res),
		grpc.WithAuthority(s.addrs[0]),
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(fmt.Sprintf(`{"loadBalancingConfig":[{%q:{}}]}`, s.balancing)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: s.backoff.Min, Multiplier: 2, Jitter: 0.2, MaxDelay: s.backoff.Max},
			MinConnectTimeout: s.connectTimeout,
		}),
		grpc.WithIdleTimeout(0), // stay connected: Health reports the connection, not idleness
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(s.maxMessage), grpc.MaxCallSendMsgSize(s.maxMessage)),
	)
	if err != nil {
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: %v", b.URL, err))
	}
	c := newConn(b, s, sch, cc)
	b.Go("grpc-connection", func(context.Context) { c.rc.Run(c.ctx) })
	for _, in := range ins {
		b.Go("grpc-stream "+in.m.String(), func(context.Context) { c.watch(in) })
	}
	select {
	case <-c.first:
	case <-ctx.Done():
	case <-time.After(min(s.connectTimeout, 3*time.Second)):
	}
	b.Logger.Info("grpc connector ready", "servers", s.addrs, "reflection", sch.files == nil, "streams", len(ins), "load_balancing", s.balancing)
	return c, nil
}
