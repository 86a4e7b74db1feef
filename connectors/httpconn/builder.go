package httpconn

import (
	"context"
	"strings"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// version of the connector, reported by Describe and in the User-Agent.
const version = "0.1.0"

// Builder builds HTTP connector instances. Its zero value is ready to use.
type Builder struct{}

// NewBuilder returns the HTTP connector kind, scheme "http".
func NewBuilder() sdk.ConnectorBuilder { return Builder{} }

// Scheme returns "http", the name configurations use for the plugin.
func (Builder) Scheme() string { return "http" }

// Build checks the instance's configuration, reads its secrets from the environment
// and, when listen is set, starts the inbound listener.
func (Builder) Build(_ context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
	s, err := parseSettings(b.URL, b.Options)
	var errs errList
	errs.add(err)
	routes := make(map[uint32]routeOptions, len(b.Routes))
	for _, rt := range b.Routes {
		ro, routeErr := parseRoute(rt.Resource, rt.Config)
		errs.add(sdk.ForLink(sdk.LinkSpec{ID: rt.ID, Direction: sdk.Inbound, Resource: rt.Resource, Config: rt.Config, Record: rt.Record}, routeErr))
		routes[rt.ID] = ro
	}
	readable := map[string]bool{}
	if err == nil {
		for _, l := range b.Outbound {
			_, allowGet, linkErr := linkSettings(s.out, l.Config)
			errs.add(sdk.ForLink(l, linkErr))
			if allowGet {
				readable[strings.TrimPrefix(l.Resource, "/")] = true
			}
		}
		errs.add(checkShape(s, len(b.Routes) > 0))
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return newConnector(b, s, routes, readable)
}

// checkShape checks that the connector has what its links need.
func checkShape(s *settings, inbound bool) error {
	switch {
	case inbound && s.in.listen == "":
		return sdk.Errorf(sdk.KindInvalidConfig, "link_from needs option %q on the connector (for example \"127.0.0.1:8080\")", optListen)
	case s.base == nil && s.in.listen == "":
		return sdk.Errorf(sdk.KindInvalidConfig, "the connector needs a url (to send to) or option %q (to receive on)", optListen)
	}
	return nil
}

// parseRoute checks a link_from's pattern and options.
func parseRoute(resource string, cfg sdk.Config) (routeOptions, error) {
	var errs errList
	errs.add(sdk.ValidatePattern(resource))
	errs.add(cfg.Unknown(sdk.OptionNames(optionDocs, sdk.ScopeLinkFrom)...))
	var ro routeOptions
	var err error
	ro.allowGet, err = cfg.Bool(optAllowGet, false)
	errs.add(err)
	if v, ok := cfg[optContentType]; ok {
		ro.contentType, err = parseContentType(v)
		errs.add(err)
	}
	return ro, errs.err()
}

// ValidateConfig checks the connector's URL and options, reads the environment
// variables they name, loads the TLS files, and checks every link, without
// connecting or listening anywhere. All problems are reported at once.
func (Builder) ValidateConfig(u sdk.URL, options sdk.Config, links []sdk.LinkSpec) error {
	s, err := parseSettings(u, options)
	var errs errList
	errs.add(err)
	inbound := false
	for _, l := range links {
		switch l.Direction {
		case sdk.Inbound:
			inbound = true
			_, routeErr := parseRoute(l.Resource, l.Config)
			errs.add(sdk.ForLink(l, routeErr))
		case sdk.Outbound:
			errs.add(sdk.ForLink(l, checkLinkTo(s, l, hasURL(u))))
		}
	}
	if err == nil {
		errs.add(checkShape(s, inbound))
	}
	return errs.err()
}

// checkLinkTo checks an outbound link's options and destination.
// hasURL says whether the connector names a url at all (a bad one is reported once, elsewhere).
func checkLinkTo(s *settings, l sdk.LinkSpec, hasURL bool) error {
	var errs errList
	errs.add(l.Config.Unknown(sdk.OptionNames(optionDocs, sdk.ScopeLinkTo)...))
	_, err := l.Config.Bool(optAllowGet, false)
	errs.add(err)
	_, err = parseOut(l.Config, s.out)
	errs.add(err)
	if !hasURL {
		errs.add(sdk.Errorf(sdk.KindInvalidConfig, "link_to needs the connector's url"))
	} else if s.base != nil {
		if _, _, err := s.base.join(l.Resource); err != nil {
			errs.add(err)
		}
	}
	return errs.err()
}

// Describe documents the connector's options and capabilities.
func (Builder) Describe() sdk.Description {
	return sdk.Description{
		Version: version,
		Capabilities: []string{
			sdk.CapOutbound, sdk.CapInbound, sdk.CapWildcards, sdk.CapAckCommit, sdk.CapHealth, sdk.CapLatest,
		},
		Options: append([]sdk.OptionDoc(nil), optionDocs...),
	}
}
