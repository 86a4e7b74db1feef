package sdk

import (
	"errors"
	"fmt"
	"strings"
)

// OptionError ties a configuration mistake to where it is: an option of the connector
// instance (Link nil), an option of one of its links, or the link as a whole (Option
// ""). A ConfigValidator returns any number of them joined with errors.Join, each
// wrapped in an Error of its kind (OptionErrorf, ForLink, and the Config getters make
// them so), and `aimdb check` prints each at its own option's file:line:col. The host
// finds them with errors.As; it never reads positions out of message text.
type OptionError struct {
	// Link is the link concerned, as ValidateConfig or Build received it; nil for the
	// connector's own options and URL.
	Link *LinkSpec
	// Option names the option as written in the configuration; "url" is the
	// connector's URL; "" means the link (or the instance) as a whole.
	Option string
	// Err says what is wrong, naming the option in its text
	// (`option "qos": want 0, 1 or 2, got "7"`).
	Err error
}

// Error prints the link, when there is one, then the cause:
// `link_to "alerts/high" (record "alerts"): option "qos": want 0, 1 or 2, got "7"`.
func (e *OptionError) Error() string {
	var b strings.Builder
	if e.Link != nil {
		b.WriteString(linkLabel(*e.Link))
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *OptionError) Unwrap() error { return e.Err }

// linkLabel names a link in messages: `link_to "alerts/high" (record "alerts")`.
func linkLabel(l LinkSpec) string {
	s := fmt.Sprintf("%s %q", l.Direction, l.Resource)
	if l.Record != "" {
		s += fmt.Sprintf(" (record %q)", l.Record)
	}
	return s
}

// OptionErrorf returns an error of kind about option: its text is
// `option "NAME": ` followed by format applied to args (%w works).
func OptionErrorf(kind ErrorKind, option, format string, args ...any) error {
	cause := fmt.Errorf("option %q: "+format, append([]any{option}, args...)...)
	return &Error{Kind: kind, Err: &OptionError{Option: option, Err: cause}}
}

// AtOption ties err to option, keeping its kind (invalid config when unclassified);
// err's text should name the option, as for the connector's url:
// AtOption("url", Errorf(KindInvalidConfig, "url %s: no host", u)). It returns nil
// for a nil err.
func AtOption(option string, err error) error {
	if err == nil {
		return nil
	}
	kind := KindOf(err)
	if kind == KindUnknown {
		kind = KindInvalidConfig
	}
	return &Error{Kind: kind, Err: &OptionError{Option: option, Err: causeOf(err)}}
}

// ForLink ties every mistake err holds to link l (as ValidateConfig received it),
// keeping each one's kind and option; an unclassified mistake becomes invalid config.
// It returns nil for a nil err.
func ForLink(l LinkSpec, err error) error {
	var out []error
	for _, leaf := range Split(err) {
		kind := KindOf(leaf)
		if kind == KindUnknown {
			kind = KindInvalidConfig
		}
		var oe *OptionError
		switch {
		case errors.As(leaf, &oe) && oe.Link != nil:
			out = append(out, leaf) // already tied to a link
			continue
		case oe != nil:
			oe = &OptionError{Link: &l, Option: oe.Option, Err: oe.Err}
		default:
			oe = &OptionError{Link: &l, Err: causeOf(leaf)}
		}
		out = append(out, &Error{Kind: kind, Err: oe})
	}
	return errors.Join(out...)
}

// causeOf returns err without its outermost kind, so re-classifying it does not
// print the kind twice.
func causeOf(err error) error {
	if e, ok := err.(*Error); ok && e.Err != nil {
		return e.Err
	}
	return err
}

// Split returns the separate mistakes err holds: the leaves of errors.Join trees,
// also of a join inside an Error (each unclassified leaf then takes that Error's
// kind). Anything else is one mistake. It returns nil for a nil err.
func Split(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Split(e)...)
		}
		return out
	}
	if e, ok := err.(*Error); ok && e.Err != nil {
		if j, ok := e.Err.(interface{ Unwrap() []error }); ok {
			var out []error
			for _, child := range j.Unwrap() {
				for _, leaf := range Split(child) {
					if KindOf(leaf) == KindUnknown {
						leaf = &Error{Kind: e.Kind, Err: leaf}
					}
					out = append(out, leaf)
				}
			}
			return out
		}
	}
	return []error{err}
}
