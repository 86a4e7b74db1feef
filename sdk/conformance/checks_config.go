package conformance

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

var schemeRE = regexp.MustCompile(`^[a-z][a-z0-9+.\-_]*$`)

var knownCaps = map[string]bool{
	sdk.CapOutbound: true, sdk.CapInbound: true, sdk.CapWildcards: true,
	sdk.CapAckCommit: true, sdk.CapHealth: true, sdk.CapLatest: true,
}

// checkDescribe checks the plugin's self-description.
func checkDescribe(r *runner) error {
	info := r.target.Info()
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if info.ProtocolVersion < 1 {
		bad("protocol version %d", info.ProtocolVersion)
	}
	if info.SDKVersion == "" {
		bad("no SDK version")
	}
	if info.MaxMessageBytes == 0 || info.MaxBatchMessages == 0 || info.MaxBatchBytes == 0 || info.MaxBatchesInFlight == 0 {
		bad("limits not announced: %+v", info)
	}
	seen := map[string]bool{}
	for _, k := range info.Kinds {
		if !schemeRE.MatchString(k.Scheme) {
			bad("scheme %q is not a valid URL scheme", k.Scheme)
		}
		if seen[k.Scheme] {
			bad("scheme %q is served twice", k.Scheme)
		}
		seen[k.Scheme] = true
		if k.Version == "" {
			bad("kind %q: no version", k.Scheme)
		}
		if len(k.Capabilities) == 0 {
			bad("kind %q: declares no capability", k.Scheme)
		}
		for _, c := range k.Capabilities {
			if !knownCaps[c] {
				bad("kind %q: unknown capability %q", k.Scheme, c)
			}
		}
		if k.Has(sdk.CapWildcards) && !k.Has(sdk.CapInbound) {
			bad("kind %q: declares %q without %q", k.Scheme, sdk.CapWildcards, sdk.CapInbound)
		}
		if k.MaxPayload < 0 || (info.MaxMessageBytes > 0 && uint64(k.MaxPayload) > info.MaxMessageBytes) {
			bad("kind %q: max payload %d is beyond the boundary's %d", k.Scheme, k.MaxPayload, info.MaxMessageBytes)
		}
		opts := map[string]bool{}
		for _, o := range k.Options {
			switch o.Scope {
			case sdk.ScopeConnector, sdk.ScopeLinkTo, sdk.ScopeLinkFrom:
			default:
				bad("kind %q: option %q has scope %q", k.Scheme, o.Name, o.Scope)
			}
			if o.Name == "" || strings.ContainsAny(o.Name, " \t\n=") {
				bad("kind %q: bad option name %q", k.Scheme, o.Name)
			}
			if o.Doc == "" {
				bad("kind %q: option %q has no doc", k.Scheme, o.Name)
			}
			if opts[o.Scope+"/"+o.Name] {
				bad("kind %q: option %q documented twice in scope %s", k.Scheme, o.Name, o.Scope)
			}
			opts[o.Scope+"/"+o.Name] = true
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

const bogusOption = "conformance_no_such_option"

// checkUnknownOption builds with an option nobody knows: the error must be an
// invalid-config error naming it.
func checkUnknownOption(r *runner) error {
	spec := r.spec("unknown-option", r.out(r.resource(0)))
	spec.Options[bogusOption] = "1"
	ctx, cancel := r.timeout()
	defer cancel()
	in, err := r.target.Build(ctx, spec)
	if err == nil {
		r.cleanup(in)
		return fmt.Errorf("building with the unknown option %q succeeded", bogusOption)
	}
	if e := kindIs("building with an unknown option", err, sdk.KindInvalidConfig); e != nil {
		return e
	}
	if !strings.Contains(err.Error(), bogusOption) {
		return fmt.Errorf("the error does not name the option %q: %v", bogusOption, err)
	}
	return nil
}

// checkBadURL builds with a port out of range: an invalid-config error naming it.
func checkBadURL(r *runner) error {
	spec := r.spec("bad-url", r.out(r.resource(0)))
	spec.URL = r.kind.Scheme + "://127.0.0.1:99999"
	ctx, cancel := r.timeout()
	defer cancel()
	in, err := r.target.Build(ctx, spec)
	if err == nil {
		r.cleanup(in)
		return fmt.Errorf("building with url %q succeeded", spec.URL)
	}
	if e := kindIs("building with port 99999", err, sdk.KindInvalidConfig); e != nil {
		return e
	}
	if !strings.Contains(err.Error(), "99999") {
		return fmt.Errorf("the error does not name the bad port 99999: %v", err)
	}
	return nil
}

const secretMarker = "c0nf0rmance-s3cret"

// checkSecrets builds instances with a password in the URL and every secret option
// set, once with a bad option and once without: neither errors nor logs may show them.
func checkSecrets(r *runner) error {
	url := withPassword(r.cfg.URL, r.kind.Scheme, secretMarker)
	var msgs []string
	for i, bogus := range []bool{true, false} {
		spec := r.spec(fmt.Sprintf("secrets-%d", i), r.out(r.resource(0)))
		spec.URL = url
		for _, o := range r.kind.Options {
			if o.Secret && o.Scope == sdk.ScopeConnector {
				spec.Options[o.Name] = secretMarker
			}
		}
		if bogus {
			spec.Options[bogusOption] = "1"
		}
		ctx, cancel := r.timeout()
		in, err := r.target.Build(ctx, spec)
		cancel()
		if err != nil {
			msgs = append(msgs, err.Error())
			continue
		}
		if err := r.publish(in, spec.Links[0].ID, []byte("secret check")); err != nil {
			msgs = append(msgs, err.Error())
		}
		r.cleanup(in)
	}
	time.Sleep(100 * time.Millisecond) // let the log lines arrive
	for _, m := range msgs {
		if strings.Contains(m, secretMarker) {
			return fmt.Errorf("an error shows a secret: %s", m)
		}
	}
	if logs := r.target.Stderr(); strings.Contains(logs, secretMarker) {
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, secretMarker) {
				return fmt.Errorf("the plugin logged a secret: %s", l)
			}
		}
	}
	return nil
}

// withPassword puts user "conformance" and password into url's authority.
func withPassword(url, scheme, password string) string {
	rest, ok := strings.CutPrefix(url, scheme+"://")
	if !ok {
		i := strings.Index(url, "://")
		if i < 0 {
			return scheme + "://conformance:" + password + "@127.0.0.1"
		}
		rest = url[i+3:]
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
		rest = rest[at+1:]
	}
	return scheme + "://conformance:" + password + "@" + rest
}
