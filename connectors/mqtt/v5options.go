package mqtt

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Protocol versions an instance speaks (option "protocol").
const (
	protocol311 = "3.1.1"
	protocol5   = "5"
)

// userPropertyPrefix starts the name of a link_to option that sets an MQTT 5 user
// property: user_property_site = "plant-b" sends the property site=plant-b.
const userPropertyPrefix = "user_property_"

// maxInterval is the longest session expiry or message expiry MQTT 5 carries (a
// four-byte count of seconds); a session expiry of this long never ends.
const maxInterval = math.MaxUint32 * time.Second

// optionDocs documents every option of the connector.
var optionDocs = append(commonOptionDocs[:len(commonOptionDocs):len(commonOptionDocs)], v5OptionDocs...)

// v5OptionDocs documents the options of MQTT 5; every one but "protocol" needs
// protocol = 5.
var v5OptionDocs = []sdk.OptionDoc{
	{Name: "protocol", Scope: sdk.ScopeConnector, Doc: "MQTT version: 3.1.1 (paho.mqtt.golang) or 5 (paho.golang), which adds the options below", Default: protocol311},
	{Name: "session_expiry", Scope: sdk.ScopeConnector, Doc: "MQTT 5: how long the broker keeps the session (subscriptions, queued QoS 1/2 messages) after the connection drops; \"never\" keeps it for good (the default with clean_session = false)", Default: "0s"},
	{Name: "receive_maximum", Scope: sdk.ScopeConnector, Doc: "MQTT 5: most QoS 1/2 messages the broker may send before we acknowledge one; unacknowledged messages wait at the broker", Default: "<max_inflight, at most 65535>"},
	{Name: "content_type", Scope: sdk.ScopeLinkTo, Doc: "MQTT 5: content type property of published messages (a template: ${record}, ${instance}, ${topic}, ${time})"},
	{Name: "message_expiry", Scope: sdk.ScopeLinkTo, Doc: "MQTT 5: the broker discards a message not yet delivered after this long (0: never)", Default: "0s"},
	{Name: userPropertyPrefix + "<name>", Scope: sdk.ScopeLinkTo, Doc: "MQTT 5: user property <name> of published messages (a template: ${record}, ${instance}, ${topic}, ${time}); one option per property"},
	{Name: "topic_alias", Scope: sdk.ScopeLinkTo, Doc: "MQTT 5: after the first message of a connection, send a two-byte topic alias instead of the topic, while the broker grants aliases", Default: "true"},
	{Name: "takeover_topic", Scope: sdk.ScopeConnector, Doc: "MQTT 5: members of shared subscriptions with the same takeover_topic resume a lost member's session and hand the host what the broker kept for it; presence goes to <takeover_topic>/<client_id>. Needs clean_session = false, a client_id, a session_expiry; replaces status_topic"},
	{Name: "share_group", Scope: sdk.ScopeLinkFrom, Doc: "MQTT 5: subscribe as a member of this shared-subscription group ($share/<group>/<filter>): the broker gives each message to one member"},
}

// v5Settings are an instance's MQTT 5 options.
type v5Settings struct {
	on             bool          // protocol = 5
	sessionExpiry  time.Duration // 0: the session ends with the connection
	receiveMaximum uint16
	takeoverTopic  string // "": no takeover
}

// parseV5 reads protocol and the connector options of MQTT 5 into s.v5; an MQTT 5
// option under protocol 3.1.1 is an error naming it.
func (s *settings) parseV5(opts sdk.Config) error {
	p, err := opts.OneOf("protocol", protocol311, protocol311, protocol5)
	if err != nil {
		return err
	}
	s.v5.on = p == protocol5
	if !s.v5.on {
		return needsV5(opts, "session_expiry", "receive_maximum", "takeover_topic")
	}
	s.v5.sessionExpiry = 0
	if !s.cleanSession {
		s.v5.sessionExpiry = maxInterval
	}
	if v, ok := opts["session_expiry"]; ok {
		if strings.TrimSpace(v) == "never" {
			s.v5.sessionExpiry = maxInterval
		} else if s.v5.sessionExpiry, err = intervalOption(opts, "session_expiry"); err != nil {
			return err
		}
	}
	rm, err := opts.IntIn("receive_maximum", min(s.maxInflight, math.MaxUint16), 1, math.MaxUint16)
	if err != nil {
		return err
	}
	s.v5.receiveMaximum = uint16(rm)
	return s.parseTakeover(opts)
}

// parseTakeover reads takeover_topic. Taking over a lost member's session needs a
// session the broker keeps under a client id of the member's own, which names the
// member in its presence topic, and the connection's last will, which status_topic
// would use too.
func (s *settings) parseTakeover(opts sdk.Config) error {
	t, ok := opts["takeover_topic"]
	if !ok {
		return nil
	}
	if err := checkPublishTopic(t); err != nil {
		return sdk.OptionErrorf(sdk.KindInvalidConfig, "takeover_topic", "%v", err)
	}
	switch {
	case s.cleanSession:
		return sdk.OptionErrorf(sdk.KindInvalidConfig, "takeover_topic", "needs clean_session = false: a clean session ends with its connection and leaves nothing to take over")
	case !s.clientIDSet:
		return sdk.OptionErrorf(sdk.KindInvalidConfig, "takeover_topic", "needs a client_id of the instance's own: the others resume its session under it")
	case strings.ContainsAny(s.clientID, "/+#"):
		return sdk.OptionErrorf(sdk.KindInvalidConfig, "takeover_topic", "client_id %q names the member in topic %s/<client_id>: want one without /, + or #", s.clientID, t)
	case s.v5.sessionExpiry == 0:
		return sdk.OptionErrorf(sdk.KindInvalidConfig, "takeover_topic", "needs a session_expiry: a session that ends with its connection leaves nothing to take over")
	case s.statusTopic != "":
		return sdk.OptionErrorf(sdk.KindInvalidConfig, "takeover_topic", "cannot go with status_topic: both need the connection's last will; watch %s/%s (%q, %q) instead", t, s.clientID, presenceOnline, presenceLost)
	}
	s.v5.takeoverTopic = t
	return nil
}

// checkTakeover refuses takeover_topic on an instance whose link_from are not all in
// a share group (filters as subscriptions returns them): a survivor would hand the
// host a second copy of what a lost member's session holds of a subscription that is
// not shared.
func checkTakeover(s *settings, filters map[string]byte) error {
	if s.v5.takeoverTopic == "" {
		return nil
	}
	if len(filters) == 0 {
		return sdk.OptionErrorf(sdk.KindInvalidConfig, "takeover_topic", "needs a link_from with a share_group: the members take over each other's share of a shared subscription")
	}
	for f := range filters {
		if !strings.HasPrefix(f, "$share/") {
			return sdk.OptionErrorf(sdk.KindInvalidConfig, "takeover_topic", "link_from pattern %q has no share_group: with takeover_topic every link_from must be in one (a survivor would hand the host a second copy of it)", f)
		}
	}
	return nil
}

// needsV5 fails for the first of names that opts sets.
func needsV5(opts sdk.Config, names ...string) error {
	for _, n := range names {
		if _, ok := opts[n]; ok {
			return sdk.OptionErrorf(sdk.KindInvalidConfig, n, "needs protocol = %q", protocol5)
		}
	}
	return nil
}

// intervalOption reads a duration of whole seconds that MQTT 5 can carry.
func intervalOption(opts sdk.Config, name string) (time.Duration, error) {
	d, err := opts.Duration(name, 0)
	if err != nil {
		return 0, err
	}
	if d < 0 || d > maxInterval || d%time.Second != 0 {
		return 0, sdk.OptionErrorf(sdk.KindInvalidConfig, name, "want whole seconds from 0 to %v, got %v", maxInterval, d)
	}
	return d, nil
}

// seconds converts an interval checked by intervalOption.
func seconds(d time.Duration) uint32 { return uint32(d / time.Second) }

// v5LinkTo are the MQTT 5 options of one link_to.
type v5LinkTo struct {
	contentType   template
	messageExpiry time.Duration
	userProps     []v5UserProperty // sorted by name
	topicAlias    bool
}

// v5UserProperty is one user property a link_to sends.
type v5UserProperty struct {
	name  string
	value template
}

// parseV5LinkTo reads a link_to's MQTT 5 options; under protocol 3.1.1 (v5 false)
// setting one is an error.
func parseV5LinkTo(v5 bool, cfg sdk.Config) (v5LinkTo, error) {
	o := v5LinkTo{topicAlias: true}
	if !v5 {
		if err := needsV5(cfg, "content_type", "message_expiry", "topic_alias"); err != nil {
			return o, err
		}
		for _, k := range cfg.Keys() {
			if strings.HasPrefix(k, userPropertyPrefix) {
				return o, needsV5(cfg, k)
			}
		}
		return o, nil
	}
	var err error
	if o.contentType, err = parseTemplate("content_type", cfg.String("content_type", "")); err != nil {
		return o, err
	}
	if o.messageExpiry, err = intervalOption(cfg, "message_expiry"); err != nil {
		return o, err
	}
	if o.topicAlias, err = cfg.Bool("topic_alias", true); err != nil {
		return o, err
	}
	for _, k := range cfg.Keys() { // sorted
		name, ok := strings.CutPrefix(k, userPropertyPrefix)
		if !ok {
			continue
		}
		if name == "" {
			return o, sdk.OptionErrorf(sdk.KindInvalidConfig, k, "name the property after %q", userPropertyPrefix)
		}
		t, err := parseTemplate(k, cfg[k])
		if err != nil {
			return o, err
		}
		o.userProps = append(o.userProps, v5UserProperty{name: name, value: t})
	}
	return o, nil
}

// unknownLinkOptions fails, naming them, for the options of a link in cfg that are
// neither known in scope nor, for link_to, user properties.
func unknownLinkOptions(cfg sdk.Config, scope string) error {
	var known []string
	for _, n := range sdk.OptionNames(optionDocs, scope) {
		if n != userPropertyPrefix+"<name>" {
			known = append(known, n)
		}
	}
	rest := sdk.Config{}
	for k, v := range cfg {
		if scope != sdk.ScopeLinkTo || !strings.HasPrefix(k, userPropertyPrefix) {
			rest[k] = v
		}
	}
	return rest.Unknown(known...)
}

// parseShareGroup reads a link_from's share_group: "" when unset. A group needs
// protocol 5 and a name that is one topic level without wildcards.
func parseShareGroup(v5 bool, cfg sdk.Config) (string, error) {
	g, ok := cfg["share_group"]
	if !ok {
		return "", nil
	}
	if !v5 {
		return "", needsV5(cfg, "share_group")
	}
	if g == "" || strings.ContainsAny(g, "/+#") {
		return "", sdk.OptionErrorf(sdk.KindInvalidConfig, "share_group", "want a name without /, + or #, got %q", g)
	}
	return g, nil
}

// checkNotShared refuses a link_from pattern that spells out a shared subscription:
// its messages arrive on the real topic, which "$share/..." never matches.
func checkNotShared(filter string) error {
	for _, p := range []string{"$share/", "$queue/"} {
		if strings.HasPrefix(filter, p) {
			return fmt.Errorf("pattern %q names a shared subscription: write the filter alone and set option %q (protocol = 5)", filter, "share_group")
		}
	}
	return nil
}

// subscription is one filter an instance subscribes to: the link_from pattern, in a
// share group or not.
type subscription struct {
	group  string // share group, or ""
	filter string // the pattern routes match
}

// String is what goes into SUBSCRIBE: the filter, or $share/<group>/<filter>.
func (s subscription) String() string {
	if s.group == "" {
		return s.filter
	}
	return "$share/" + s.group + "/" + s.filter
}

// subscriptions groups the inbound links' patterns by share group and folds, within
// a group, the filters another one covers (reduceFilters). Links whose patterns
// overlap must share the group (or all have none): otherwise one message could arrive
// through two subscriptions, and the router would hand each copy to both routes.
//
// The routes' options must have passed validateLink.
func subscriptions(routes []sdk.Route, v5 bool) (map[string]byte, error) {
	byGroup := map[string]map[string]byte{}
	var subs []subscription
	for _, l := range routes {
		g, _ := parseShareGroup(v5, l.Config)
		q, _ := parseQoS(l.Config)
		if byGroup[g] == nil {
			byGroup[g] = map[string]byte{}
		}
		if old, ok := byGroup[g][l.Resource]; !ok || q > old {
			byGroup[g][l.Resource] = q
		}
		subs = append(subs, subscription{g, l.Resource})
	}
	var errs []error
	for i, a := range subs {
		for _, b := range subs[i+1:] {
			if a.group != b.group && overlaps(a.filter, b.filter) {
				errs = append(errs, fmt.Errorf("link_from patterns %q and %q overlap, but their share_group differs (%q, %q): a message would reach both routes twice", a.filter, b.filter, a.group, b.group))
			}
		}
	}
	if len(errs) > 0 {
		return nil, sdk.Wrap(sdk.KindInvalidConfig, errors.Join(errs...))
	}
	out := map[string]byte{}
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		for f, q := range reduceFilters(byGroup[g]) {
			out[subscription{g, f}.String()] = q
		}
	}
	return out, nil
}

// overlaps reports whether some topic matches both filters f and g.
func overlaps(f, g string) bool {
	fl, gl := strings.Split(f, "/"), strings.Split(g, "/")
	if dollar(fl[0]) != dollar(gl[0]) && (isWild(fl[0]) || isWild(gl[0])) {
		return false // first-level wildcards do not match $-topics
	}
	for i := 0; i < len(fl) && i < len(gl); i++ {
		switch {
		case fl[i] == "#" || gl[i] == "#":
			return true
		case fl[i] == "+" || gl[i] == "+":
		case fl[i] != gl[i]:
			return false
		}
	}
	switch {
	case len(fl) == len(gl):
		return true
	case len(fl) == len(gl)+1:
		return fl[len(gl)] == "#" // "a/#" matches "a"
	case len(gl) == len(fl)+1:
		return gl[len(fl)] == "#"
	}
	return false
}

func isWild(level string) bool { return level == "+" || level == "#" }

func dollar(level string) bool { return strings.HasPrefix(level, "$") }
