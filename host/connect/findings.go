package connect

import (
	"errors"
	"fmt"
	"slices"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// bare drops the kind "invalid config" from a mistake: every ConfigError is one. Any
// other kind (unsupported QoS, invalid destination) says more, and stays.
func bare(err error) error {
	if e, ok := err.(*sdk.Error); ok && e.Kind == sdk.KindInvalidConfig && e.Err != nil {
		return e.Err
	}
	return err
}

// instanceErrs turns each mistake err holds (sdk.Split) into a ConfigError about
// instance name, at the option its sdk.OptionError names.
func instanceErrs(name string, err error) []error {
	var out []error
	for _, leaf := range sdk.Split(err) {
		ce := &host.ConfigError{Instance: name, Err: bare(leaf)}
		var oe *sdk.OptionError
		if errors.As(leaf, &oe) {
			ce.Option = oe.Option
		}
		out = append(out, ce)
	}
	return out
}

// linkErrs turns each mistake err holds into a ConfigError about link l, at the
// option its sdk.OptionError names. The link is named once, by the ConfigError.
func linkErrs(l host.LinkInfo, err error) []error {
	var out []error
	for _, leaf := range sdk.Split(err) {
		ce := &host.ConfigError{Record: l.Record, URL: l.URL.String(), Direction: l.Direction, Err: bare(leaf)}
		var oe *sdk.OptionError
		if errors.As(leaf, &oe) {
			ce.Option = oe.Option
			if oe.Link != nil {
				ce.Err = bare(&sdk.Error{Kind: sdk.KindOf(leaf), Err: &sdk.OptionError{Option: oe.Option, Err: oe.Err}})
			}
		}
		out = append(out, ce)
	}
	return out
}

// validationErrs places what a kind's ValidateConfig returned for plan p: a mistake
// its OptionError ties to one of the instance's links goes to that link, any other
// to the instance (with the kind named, when no option says where it is).
func validationErrs(p *instancePlan, err error) []error {
	var out []error
	for _, leaf := range sdk.Split(err) {
		var oe *sdk.OptionError
		if errors.As(leaf, &oe) && oe.Link != nil {
			if i := slices.IndexFunc(p.links, func(l host.LinkInfo) bool { return uint32(l.ID) == oe.Link.ID }); i >= 0 {
				out = append(out, linkErrs(p.links[i], leaf)...)
				continue
			}
		}
		if oe == nil || oe.Option == "" && oe.Link == nil {
			leaf = fmt.Errorf("%s: %w", p.kindLabel(), bare(leaf))
		}
		out = append(out, instanceErrs(p.decl.Name, leaf)...)
	}
	return out
}

// optionNames lists the options d documents for scope.
func optionNames(d sdk.Description, scope string) []string {
	var out []string
	for _, o := range d.Options {
		if o.Scope == scope {
			out = append(out, o.Name)
		}
	}
	return out
}

// dropUnknown reports every option in opts that the kind does not document for scope
// (known) as an invalid-config error with the closest documented or host-level
// option (others) as a suggestion, and removes it from opts, so the kind's own check
// does not report it again. A kind that documents no option at all is not checked.
func dropUnknown(d sdk.Description, scope string, opts sdk.Config, others []string) error {
	if len(d.Options) == 0 {
		return nil
	}
	known := optionNames(d, scope)
	var errs []error
	for _, k := range opts.Keys() {
		if slices.Contains(known, k) {
			continue
		}
		cause := sdk.UnknownOption(k, append(append([]string(nil), known...), others...))
		errs = append(errs, &sdk.OptionError{Option: k, Err: cause})
		delete(opts, k)
	}
	return errors.Join(errs...)
}
