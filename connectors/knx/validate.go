package knx

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxnet"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// ValidateConfig checks the connector URL and options and every link's group address
// and options without connecting anywhere. Each problem names its link and value.
func (builder) ValidateConfig(u sdk.URL, options sdk.Config, links []sdk.LinkSpec) error {
	s, err := parseSettings(u, options)
	errs := []error{err}
	_, lerr := checkLinks(links, s.ets)
	errs = append(errs, lerr)
	if err := errors.Join(errs...); err != nil {
		return sdk.Wrap(sdk.KindInvalidConfig, err)
	}
	return nil
}

// linkName names a link in errors: `link_from "knx://1/2/3" (record "temp")`.
func linkName(l sdk.LinkSpec) string {
	s := fmt.Sprintf("%s %q", l.Direction, "knx://"+l.Resource)
	if l.Record != "" {
		s += fmt.Sprintf(" (record %q)", l.Record)
	}
	return s
}

// checkLinks validates links and returns their parsed options in order.
func checkLinks(links []sdk.LinkSpec, ets etsTable) ([]linkOptions, error) {
	var errs []error
	out := make([]linkOptions, len(links))
	var inbound []int
	for i, l := range links {
		if err := validateResource(l.Direction, l.Resource); err != nil {
			errs = append(errs, sdk.ForLink(l, err))
		}
		lo, err := parseLinkOptions(l.Direction, l.Config)
		if err == nil {
			err = ets.check(l.Resource, lo)
		}
		errs = append(errs, sdk.ForLink(l, err))
		if l.Direction == sdk.Inbound {
			if lo.readInit && sdk.HasWildcard(l.Resource) {
				errs = append(errs, sdk.Errorf(sdk.KindInvalidConfig, "%s: read = \"init\" needs one group address, not the pattern %q", linkName(l), l.Resource))
			}
			inbound = append(inbound, i)
		}
		out[i] = lo
	}
	// Telegrams go to every matching route with one payload, so overlapping inbound
	// links must decode alike.
	for a := 0; a < len(inbound); a++ {
		for b := a + 1; b < len(inbound); b++ {
			la, lb := links[inbound[a]], links[inbound[b]]
			if dptName(out[inbound[a]]) != dptName(out[inbound[b]]) && patternsOverlap(la.Resource, lb.Resource) {
				errs = append(errs, sdk.Errorf(sdk.KindInvalidConfig, "%s (dpt %s) and %s (dpt %s) match the same group addresses with different datapoint types",
					linkName(la), dptName(out[inbound[a]]), linkName(lb), dptName(out[inbound[b]])))
			}
		}
	}
	// A "#" pattern matches the address in every notation; with mixed notations the
	// route would get each telegram more than once.
	notations := map[knxnet.Notation]bool{}
	hash := ""
	for _, i := range inbound {
		r := links[i].Resource
		if strings.HasSuffix(r, "#") {
			hash = r
			continue
		}
		notations[knxnet.NotationOf(r)] = true
	}
	if hash != "" && len(notations) > 1 {
		errs = append(errs, sdk.Errorf(sdk.KindInvalidConfig, "link_from \"knx://%s\": a \"#\" pattern needs all inbound links of the instance in one group address notation", hash))
	}
	return out, errors.Join(errs...)
}

func dptName(lo linkOptions) string {
	if lo.dpt == nil {
		return "raw"
	}
	return lo.dpt.ID
}

// patternsOverlap reports whether some topic matches both patterns.
func patternsOverlap(a, b string) bool {
	al, bl := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; ; i++ {
		if i < len(al) && al[i] == "#" || i < len(bl) && bl[i] == "#" {
			return true
		}
		if i == len(al) || i == len(bl) {
			return len(al) == len(bl)
		}
		if al[i] != "+" && bl[i] != "+" && al[i] != bl[i] {
			return false
		}
	}
}
