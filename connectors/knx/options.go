package knx

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/knx/dpt"
	"github.com/aimdb-dev/aimdb-go/connectors/knx/knxnet"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Connector modes.
const (
	modeTunnel  = "tunnel"
	modeRouting = "routing"
)

// Defaults, following the KNXnet/IP specification where it names a value.
const (
	defaultGroup            = "224.0.23.12"
	defaultGateway          = "127.0.0.1:3671"
	defaultHeartbeat        = 60 * time.Second // CONNECTIONSTATE_REQUEST interval
	defaultHeartbeatTimeout = 10 * time.Second // CONNECTIONSTATE_REQUEST_TIMEOUT
	defaultAckTimeout       = time.Second      // TUNNELING_REQUEST_TIMEOUT; one retransmit
	defaultConfirmTimeout   = 3 * time.Second  // wait for L_Data.con
	defaultConnectTimeout   = 10 * time.Second // CONNECT_REQUEST_TIMEOUT
	defaultReconnectMin     = time.Second
	defaultReconnectMax     = time.Minute
	defaultRateLimit        = 50 // telegrams per second on a routing line
	defaultRoutingAddress   = "15.15.250"
	heartbeatAttempts       = 3
)

// option names.
const (
	optMode             = "mode"
	optHeartbeat        = "heartbeat"
	optHeartbeatTimeout = "heartbeat_timeout"
	optAckTimeout       = "ack_timeout"
	optConfirmTimeout   = "confirm_timeout"
	optConnectTimeout   = "connect_timeout"
	optReconnectMin     = "reconnect_min"
	optReconnectMax     = "reconnect_max"
	optNAT              = "nat"
	optRateLimit        = "rate_limit"
	optAddress          = "address"
	optInterface        = "interface"
	optETSCSV           = "ets_csv"
	optDPT              = "dpt"
	optRead             = "read"
	optRespond          = "respond"
)

var optionDocs = []sdk.OptionDoc{
	{Name: optMode, Scope: sdk.ScopeConnector, Doc: `"tunnel" (KNXnet/IP tunnelling to a gateway) or "routing" (KNXnet/IP routing over multicast); knx+routing:// URLs default to routing`, Default: modeTunnel},
	{Name: optHeartbeat, Scope: sdk.ScopeConnector, Doc: "interval of tunnel heartbeats (CONNECTIONSTATE_REQUEST); gateways drop a tunnel after 120 s without one", Default: defaultHeartbeat.String()},
	{Name: optHeartbeatTimeout, Scope: sdk.ScopeConnector, Doc: "how long to wait for a heartbeat answer; three unanswered heartbeats drop the tunnel", Default: defaultHeartbeatTimeout.String()},
	{Name: optAckTimeout, Scope: sdk.ScopeConnector, Doc: "how long to wait for a TUNNELLING_ACK before the one retransmit; a second miss drops the tunnel", Default: defaultAckTimeout.String()},
	{Name: optConfirmTimeout, Scope: sdk.ScopeConnector, Doc: "how long to wait for the gateway's L_Data.con saying the telegram reached the bus", Default: defaultConfirmTimeout.String()},
	{Name: optConnectTimeout, Scope: sdk.ScopeConnector, Doc: "how long to wait for a CONNECT_RESPONSE", Default: defaultConnectTimeout.String()},
	{Name: optReconnectMin, Scope: sdk.ScopeConnector, Doc: "first delay before reconnecting after a loss; doubles up to reconnect_max", Default: defaultReconnectMin.String()},
	{Name: optReconnectMax, Scope: sdk.ScopeConnector, Doc: "longest delay between reconnect attempts", Default: defaultReconnectMax.String()},
	{Name: optNAT, Scope: sdk.ScopeConnector, Doc: "tunnel in NAT mode: announce 0.0.0.0:0 so the gateway answers to the packets' source", Default: "false"},
	{Name: optRateLimit, Scope: sdk.ScopeConnector, Doc: "routing mode: most telegrams sent per second (0 = no limit)", Default: "50"},
	{Name: optAddress, Scope: sdk.ScopeConnector, Doc: "routing mode: individual address used as the source of sent telegrams", Default: defaultRoutingAddress},
	{Name: optInterface, Scope: sdk.ScopeConnector, Doc: "routing mode: network interface for multicast (empty = the route to the group)"},
	{Name: optETSCSV, Scope: sdk.ScopeConnector, Doc: "path of an ETS group address export (CSV with header): links without dpt use the datapoint type ETS gives their group address"},
	{Name: optDPT, Scope: sdk.ScopeLinkTo, Doc: `datapoint type such as "9.001": the record's JSON value is encoded to it; without it the payload is sent as raw data bytes`},
	{Name: optRespond, Scope: sdk.ScopeLinkTo, Doc: "answer GroupValueRead telegrams for this group address with the record's latest value", Default: "false"},
	{Name: optDPT, Scope: sdk.ScopeLinkFrom, Doc: `datapoint type such as "9.001": telegram data is decoded to a JSON value; without it the route gets the raw data bytes`},
	{Name: optRead, Scope: sdk.ScopeLinkFrom, Doc: `"init" sends a GroupValueRead at start-up and after every reconnect to seed the record; "none" does not`, Default: "none"},
}

// settings are a connector instance's parsed URL and options.
type settings struct {
	mode             string
	gateway          string // host:port
	heartbeat        time.Duration
	heartbeatTimeout time.Duration
	ackTimeout       time.Duration
	confirmTimeout   time.Duration
	connectTimeout   time.Duration
	reconnectMin     time.Duration
	reconnectMax     time.Duration
	nat              bool
	rateLimit        int
	address          knxnet.IndividualAddress
	iface            string
	ets              etsTable // nil without ets_csv
}

// parseSettings checks the connector URL and options; all problems are reported at once.
func parseSettings(u sdk.URL, opts sdk.Config) (settings, error) {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	s := settings{}
	known := []string{optMode, optHeartbeat, optHeartbeatTimeout, optAckTimeout, optConfirmTimeout, optConnectTimeout,
		optReconnectMin, optReconnectMax, optNAT, optRateLimit, optAddress, optInterface, optETSCSV}
	add(opts.Unknown(known...))
	defMode := modeTunnel
	if u.Scheme == "knx+routing" {
		defMode = modeRouting
	}
	var err error
	s.mode, err = opts.OneOf(optMode, defMode, modeTunnel, modeRouting)
	add(err)
	dur := func(name string, def time.Duration, dst *time.Duration) {
		d, err := opts.Duration(name, def)
		if err == nil && d <= 0 {
			err = sdk.OptionErrorf(sdk.KindInvalidConfig, name, "must be greater than 0")
		}
		add(err)
		*dst = d
	}
	dur(optHeartbeat, defaultHeartbeat, &s.heartbeat)
	dur(optHeartbeatTimeout, defaultHeartbeatTimeout, &s.heartbeatTimeout)
	dur(optAckTimeout, defaultAckTimeout, &s.ackTimeout)
	dur(optConfirmTimeout, defaultConfirmTimeout, &s.confirmTimeout)
	dur(optConnectTimeout, defaultConnectTimeout, &s.connectTimeout)
	dur(optReconnectMin, defaultReconnectMin, &s.reconnectMin)
	dur(optReconnectMax, defaultReconnectMax, &s.reconnectMax)
	if s.reconnectMax < s.reconnectMin {
		add(sdk.AtOption(optReconnectMax, sdk.Errorf(sdk.KindInvalidConfig, "option %q (%s) is shorter than %q (%s)", optReconnectMax, s.reconnectMax, optReconnectMin, s.reconnectMin)))
	}
	s.nat, err = opts.Bool(optNAT, false)
	add(err)
	s.rateLimit, err = opts.IntIn(optRateLimit, defaultRateLimit, 0, 10000)
	add(err)
	addr := opts.String(optAddress, defaultRoutingAddress)
	if s.address, err = knxnet.ParseIndividualAddress(addr); err != nil {
		add(sdk.OptionErrorf(sdk.KindInvalidConfig, optAddress, "%v", err))
	}
	if path := opts.String(optETSCSV, ""); path != "" {
		s.ets, err = loadETSCSV(path)
		add(err)
	}
	s.iface = opts.String(optInterface, "")
	if s.iface != "" {
		if _, err := net.InterfaceByName(s.iface); err != nil {
			add(sdk.OptionErrorf(sdk.KindInvalidConfig, optInterface, "%v", err))
		}
	}

	if u.Scheme != "knx" && u.Scheme != "knx+routing" && !(u.Scheme == "" && len(u.Hosts) == 0) {
		add(sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: scheme %q is not knx or knx+routing", u, u.Scheme)))
	}
	if len(u.Hosts) == 0 { // no URL: a gateway (knxd) on this machine, or the standard group
		s.gateway = defaultGateway
		if s.mode == modeRouting {
			s.gateway = net.JoinHostPort(defaultGroup, "3671")
		}
	} else if addrs, err := u.Addrs(3671); err != nil {
		add(sdk.AtOption("url", err))
	} else if len(addrs) > 1 {
		add(sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: a KNX connector talks to one gateway, got %d hosts", u, len(addrs))))
	} else {
		s.gateway = addrs[0]
		host, _, _ := net.SplitHostPort(s.gateway)
		ip := net.ParseIP(host)
		if s.mode == modeRouting && (ip == nil || ip.To4() == nil || !ip.IsMulticast()) {
			add(sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: routing needs an IPv4 multicast group such as %s, got %q", u, defaultGroup, host)))
		}
		if s.mode == modeTunnel && ip != nil && ip.IsMulticast() {
			add(sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: %s is a multicast group; use knx+routing:// or mode = \"routing\"", u, host)))
		}
	}
	if len(errs) > 0 {
		return s, sdk.Wrap(sdk.KindInvalidConfig, errors.Join(errs...))
	}
	return s, nil
}

// linkOptions are one link's parsed options.
type linkOptions struct {
	dpt      *dpt.Type // nil: raw data bytes
	readInit bool
	respond  bool
}

// parseLinkOptions checks a link's options for its direction.
func parseLinkOptions(dir sdk.Direction, cfg sdk.Config) (linkOptions, error) {
	var lo linkOptions
	var errs []error
	if dir == sdk.Inbound {
		errs = append(errs, cfg.Unknown(optDPT, optRead))
	} else {
		errs = append(errs, cfg.Unknown(optDPT, optRespond))
	}
	if id, ok := cfg[optDPT]; ok {
		t, err := dpt.Lookup(id)
		if err != nil {
			errs = append(errs, sdk.OptionErrorf(sdk.KindInvalidConfig, optDPT, "%v", err))
		}
		lo.dpt = t
	}
	if dir == sdk.Inbound {
		r, err := cfg.OneOf(optRead, "none", "none", "init")
		errs = append(errs, err)
		lo.readInit = r == "init"
	} else {
		b, err := cfg.Bool(optRespond, false)
		errs = append(errs, err)
		lo.respond = b
	}
	return lo, errors.Join(errs...)
}

// validateResource checks a link's group address (outbound) or pattern (inbound).
func validateResource(dir sdk.Direction, res string) error {
	if dir == sdk.Outbound || !sdk.HasWildcard(res) {
		_, err := knxnet.ParseGroupAddress(res)
		return err
	}
	if err := sdk.ValidatePattern(res); err != nil {
		return err
	}
	levels := strings.Split(res, "/")
	if len(levels) > 3 {
		return fmt.Errorf("pattern %q: a group address has at most 3 levels", res)
	}
	// The largest number at each level; after "#" the notation is open, so the
	// levels before it are checked as 3-level (main, middle).
	limits := map[int][]int{1: {65535}, 2: {31, 2047}, 3: {31, 7, 255}}[len(levels)]
	if levels[len(levels)-1] == "#" {
		limits = []int{31, 7}
	}
	for i, l := range levels {
		if l == "+" || l == "#" {
			continue
		}
		if n, err := strconv.Atoi(l); err != nil || n < 0 || n > limits[i] || strconv.Itoa(n) != l {
			return fmt.Errorf("pattern %q: level %q is not a number in 0..%d", res, l, limits[i])
		}
	}
	return nil
}
