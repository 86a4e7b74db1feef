package mqtt

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// defaultURL is the broker an instance without a URL connects to.
const defaultURL = "mqtt://127.0.0.1:1883"

// maxPacket is MQTT's largest remaining length (256 MiB - 1): the limit a payload plus
// its topic and header must fit in.
const maxPacket = 268435455

// commonOptionDocs documents the options of both protocol versions; with
// v5OptionDocs it makes optionDocs, which is also the list of accepted option names,
// so an option cannot be parsed without being documented.
var commonOptionDocs = []sdk.OptionDoc{
	{Name: "username", Scope: sdk.ScopeConnector, Doc: "user name for the broker (or put it in the URL: mqtt://user:pass@host)"},
	{Name: "password", Scope: sdk.ScopeConnector, Doc: "password for the broker; never printed", Secret: true},
	{Name: "password_env", Scope: sdk.ScopeConnector, Doc: "name of an environment variable holding the password (keeps it out of the configuration file)"},
	{Name: "client_id", Scope: sdk.ScopeConnector, Doc: "MQTT client id; set it for a persistent session that survives restarts", Default: "aimdb-<instance>-<random>"},
	{Name: "keepalive", Scope: sdk.ScopeConnector, Doc: "MQTT keepalive interval; the broker drops the client after 1.5 times this without traffic", Default: "30s"},
	{Name: "connect_timeout", Scope: sdk.ScopeConnector, Doc: "time allowed for one connection attempt (TCP, TLS and CONNACK)", Default: "10s"},
	{Name: "clean_session", Scope: sdk.ScopeConnector, Doc: "false asks the broker to keep subscriptions and queue QoS 1/2 messages while disconnected", Default: "true"},
	{Name: "reconnect_min", Scope: sdk.ScopeConnector, Doc: "first reconnect delay; it doubles (with jitter) after every failed attempt", Default: "100ms"},
	{Name: "reconnect_max", Scope: sdk.ScopeConnector, Doc: "longest delay between reconnect attempts", Default: "30s"},
	{Name: "publish_timeout", Scope: sdk.ScopeConnector, Doc: "how long a publish waits for the broker's acknowledgement when the caller set no deadline", Default: "30s"},
	{Name: "max_payload", Scope: sdk.ScopeConnector, Doc: "largest payload in bytes that Publish accepts (MQTT's limit is 256 MiB)", Default: strconv.Itoa(maxPacket)},
	{Name: "max_inflight", Scope: sdk.ScopeConnector, Doc: "inbound messages handed to the host at once; further QoS 1/2 messages wait in the connector (the broker's in-flight window bounds them), further QoS 0 messages pause reading from the broker", Default: "1000"},
	{Name: "tcp_quickack", Scope: sdk.ScopeConnector, Doc: "when to acknowledge the broker's TCP segments at once: publishing (while QoS 1/2 publishes await acknowledgement, which a broker with Nagle's algorithm on, mosquitto's default, holds back until it has our ACK; otherwise the broker may coalesce the small messages it sends: fewer wake-ups per message) or always (the lowest latency at low rates, more CPU per message)", Default: quickAckPublishing},
	{Name: "status_topic", Scope: sdk.ScopeConnector, Doc: "topic for the birth message (on connect) and last will (on loss); empty disables both"},
	{Name: "status_online", Scope: sdk.ScopeConnector, Doc: "birth payload published on status_topic after every connect", Default: "online"},
	{Name: "status_offline", Scope: sdk.ScopeConnector, Doc: "last-will payload, also published on a clean shutdown", Default: "offline"},
	{Name: "status_qos", Scope: sdk.ScopeConnector, Doc: "QoS of the birth and will messages (0, 1 or 2)", Default: "1"},
	{Name: "status_retain", Scope: sdk.ScopeConnector, Doc: "retain the birth and will messages", Default: "true"},
	{Name: "tls_ca_file", Scope: sdk.ScopeConnector, Doc: "PEM file of the CA(s) that sign the broker's certificate (mqtts://); default: the system roots"},
	{Name: "tls_cert_file", Scope: sdk.ScopeConnector, Doc: "PEM client certificate for mutual TLS (needs tls_key_file)"},
	{Name: "tls_key_file", Scope: sdk.ScopeConnector, Doc: "PEM private key of tls_cert_file"},
	{Name: "tls_server_name", Scope: sdk.ScopeConnector, Doc: "name to verify the broker's certificate against, when it differs from the URL's host"},
	{Name: "tls_insecure_skip_verify", Scope: sdk.ScopeConnector, Doc: "accept any broker certificate (testing only; logs a warning)", Default: "false"},
	{Name: "embedded_broker", Scope: sdk.ScopeConnector, Doc: "start an MQTT broker in this process listening on host:port and connect to it (demos; no auth)"},
	{Name: "qos", Scope: sdk.ScopeLinkTo, Doc: "MQTT QoS of published messages: 0, 1 (wait for PUBACK) or 2 (wait for PUBCOMP)", Default: "1"},
	{Name: "retain", Scope: sdk.ScopeLinkTo, Doc: "publish with the retain flag, so new subscribers get the last value", Default: "false"},
	{Name: "qos", Scope: sdk.ScopeLinkFrom, Doc: "QoS to subscribe with: 0, 1 or 2 (1 and 2 are acknowledged only after the host took the value)", Default: "1"},
}

// settings is a connector instance's parsed configuration.
type settings struct {
	addrs          []string // "host:port" of each broker, for messages
	brokers        []string // paho server URLs ("tcp://h:p", "ssl://h:p")
	tls            bool
	username       string
	password       string
	clientID       string
	clientIDSet    bool
	keepAlive      time.Duration
	connectTimeout time.Duration
	cleanSession   bool
	reconnectMin   time.Duration
	reconnectMax   time.Duration
	publishTimeout time.Duration
	maxPayload     int
	maxInflight    int
	quickAck       string // tcp_quickack

	statusTopic   string
	statusOnline  string
	statusOffline string
	statusQoS     byte
	statusRetain  bool

	tlsCA, tlsCert, tlsKey, tlsServerName string
	tlsInsecure                           bool

	embeddedBroker string

	v5 v5Settings
}

// parseSettings checks a connector URL and its options. Every error is
// KindInvalidConfig and names the URL part or option that is wrong.
func parseSettings(instance string, u sdk.URL, opts sdk.Config) (*settings, error) {
	s := &settings{}
	if (u.Scheme == "" || u.Scheme == "mqtt") && len(u.Hosts) == 0 && u.Resource() == "" {
		u = sdk.MustParseURL(defaultURL) // no url (or no connector block): a broker on this machine
	}
	switch u.Scheme {
	case "mqtt":
	case "mqtts":
		s.tls = true
	default:
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: scheme %q is not mqtt:// or mqtts://", u, u.Scheme))
	}
	if len(u.Query) > 0 {
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: query options are not supported; put them in the connector block", u))
	}
	if u.Path != "" && u.Path != "/" {
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: a connector URL names brokers only, not a topic (%q); topics go in link_to/link_from", u, u.Path))
	}
	if err := opts.Unknown(sdk.OptionNames(optionDocs, sdk.ScopeConnector)...); err != nil {
		return nil, err
	}
	var err error
	if s.embeddedBroker = strings.TrimSpace(opts.String("embedded_broker", "")); s.embeddedBroker != "" {
		if _, _, err := net.SplitHostPort(s.embeddedBroker); err != nil {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, "embedded_broker", "want host:port such as \"127.0.0.1:1883\", got %q", s.embeddedBroker)
		}
		if s.tls {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, "embedded_broker", "the embedded broker speaks plain MQTT; use an mqtt:// URL")
		}
	} else {
		defPort := 1883
		if s.tls {
			defPort = 8883
		}
		if s.addrs, err = u.Addrs(defPort); err != nil {
			return nil, sdk.AtOption("url", err)
		}
	}
	s.setBrokers(s.addrs)

	s.username, s.password = u.User, u.Password
	if v, ok := opts["username"]; ok {
		if u.User != "" && u.User != v {
			return nil, sdk.AtOption("username", sdk.Errorf(sdk.KindInvalidConfig, "option %q conflicts with the user name in url %s; give it once", "username", u))
		}
		s.username = v
	}
	if v, ok := opts["password"]; ok {
		if u.Password != "" && u.Password != v {
			return nil, sdk.AtOption("password", sdk.Errorf(sdk.KindInvalidConfig, "option %q conflicts with the password in url %s; give it once", "password", u))
		}
		s.password = v
	}
	if name, ok := opts["password_env"]; ok {
		if s.password != "" {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, "password_env", "the password is given already (option %q or the url); give it once", "password")
		}
		v, set := os.LookupEnv(strings.TrimSpace(name))
		if !set || v == "" {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, "password_env", "environment variable %q is not set or empty", strings.TrimSpace(name))
		}
		s.password = v
	}
	if s.password != "" && s.username == "" {
		return nil, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "url %s: a password needs a user name (option %q)", u, "username"))
	}

	s.clientID, s.clientIDSet = opts["client_id"]
	if s.clientIDSet {
		if s.clientID == "" || len(s.clientID) > 65535 {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, "client_id", "want 1 to 65535 bytes, got %d", len(s.clientID))
		}
	} else {
		s.clientID = defaultClientID(instance)
	}
	if s.keepAlive, err = opts.Duration("keepalive", 30*time.Second); err != nil {
		return nil, err
	}
	if s.keepAlive != 0 && s.keepAlive < time.Second || s.keepAlive > 65535*time.Second {
		return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, "keepalive", "want 0 (off) or 1s..18h12m15s, got %v", s.keepAlive)
	}
	if s.connectTimeout, err = positiveDuration(opts, "connect_timeout", 10*time.Second); err != nil {
		return nil, err
	}
	if s.cleanSession, err = opts.Bool("clean_session", true); err != nil {
		return nil, err
	}
	if s.reconnectMin, err = positiveDuration(opts, "reconnect_min", 100*time.Millisecond); err != nil {
		return nil, err
	}
	if s.reconnectMax, err = positiveDuration(opts, "reconnect_max", 30*time.Second); err != nil {
		return nil, err
	}
	if s.reconnectMax < s.reconnectMin {
		return nil, sdk.AtOption("reconnect_max", sdk.Errorf(sdk.KindInvalidConfig, "option %q (%v) is shorter than %q (%v)", "reconnect_max", s.reconnectMax, "reconnect_min", s.reconnectMin))
	}
	if s.publishTimeout, err = positiveDuration(opts, "publish_timeout", 30*time.Second); err != nil {
		return nil, err
	}
	if s.maxPayload, err = opts.IntIn("max_payload", maxPacket, 1, maxPacket); err != nil {
		return nil, err
	}
	if s.maxInflight, err = opts.IntIn("max_inflight", 1000, 1, 1<<20); err != nil {
		return nil, err
	}
	if s.quickAck, err = opts.OneOf("tcp_quickack", quickAckPublishing, quickAckPublishing, quickAckAlways); err != nil {
		return nil, err
	}

	s.statusTopic = opts.String("status_topic", "")
	if s.statusTopic != "" {
		if err := checkPublishTopic(s.statusTopic); err != nil {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, "status_topic", "%v", err)
		}
	}
	s.statusOnline = opts.String("status_online", "online")
	s.statusOffline = opts.String("status_offline", "offline")
	q, err := opts.IntIn("status_qos", 1, 0, 2)
	if err != nil {
		return nil, err
	}
	s.statusQoS = byte(q)
	if s.statusRetain, err = opts.Bool("status_retain", true); err != nil {
		return nil, err
	}

	s.tlsCA = opts.String("tls_ca_file", "")
	s.tlsCert = opts.String("tls_cert_file", "")
	s.tlsKey = opts.String("tls_key_file", "")
	s.tlsServerName = opts.String("tls_server_name", "")
	if s.tlsInsecure, err = opts.Bool("tls_insecure_skip_verify", false); err != nil {
		return nil, err
	}
	if !s.tls {
		for _, k := range []string{"tls_ca_file", "tls_cert_file", "tls_key_file", "tls_server_name", "tls_insecure_skip_verify"} {
			if _, ok := opts[k]; ok {
				return nil, sdk.AtOption(k, sdk.Errorf(sdk.KindInvalidConfig, "option %q needs an mqtts:// URL, got %s", k, u))
			}
		}
	}
	if (s.tlsCert == "") != (s.tlsKey == "") {
		return nil, sdk.AtOption("tls_cert_file", sdk.Errorf(sdk.KindInvalidConfig, "options %q and %q go together: give both or neither", "tls_cert_file", "tls_key_file"))
	}
	if err := s.parseV5(opts); err != nil {
		return nil, err
	}
	return s, nil
}

// setBrokers fills in the paho server URLs for addrs.
func (s *settings) setBrokers(addrs []string) {
	scheme := "tcp://"
	if s.tls {
		scheme = "ssl://"
	}
	s.addrs = addrs
	s.brokers = s.brokers[:0]
	for _, a := range addrs {
		s.brokers = append(s.brokers, scheme+a)
	}
}

// brokerNames names the brokers in messages: "127.0.0.1:1883" or "a:1883, b:1883".
func (s *settings) brokerNames() string { return strings.Join(s.addrs, ", ") }

func positiveDuration(opts sdk.Config, key string, def time.Duration) (time.Duration, error) {
	d, err := opts.Duration(key, def)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, sdk.OptionErrorf(sdk.KindInvalidConfig, key, "must be greater than 0")
	}
	return d, nil
}

// linkOptions are the options of one outbound link.
type linkOptions struct {
	qos    byte
	retain bool
}

// parseLinkTo reads an outbound link's qos and retain. A bad qos is KindUnsupportedQoS,
// a bad retain KindInvalidConfig; both name the option.
func parseLinkTo(cfg sdk.Config) (linkOptions, error) {
	var o linkOptions
	q, err := parseQoS(cfg)
	if err != nil {
		return o, err
	}
	o.qos = q
	if v, ok := cfg["retain"]; ok {
		switch strings.TrimSpace(v) {
		case "true", "1":
			o.retain = true
		case "false", "0":
		default:
			return o, sdk.OptionErrorf(sdk.KindInvalidConfig, "retain", "want true or false, got %q", v)
		}
	}
	return o, nil
}

// parseQoS reads a link's "qos" option (default 1); anything but 0, 1 or 2 is KindUnsupportedQoS.
func parseQoS(cfg sdk.Config) (byte, error) {
	v, ok := cfg["qos"]
	if !ok {
		return 1, nil
	}
	switch strings.TrimSpace(v) {
	case "0":
		return 0, nil
	case "1":
		return 1, nil
	case "2":
		return 2, nil
	}
	return 0, sdk.OptionErrorf(sdk.KindUnsupportedQoS, "qos", "MQTT QoS is 0, 1 or 2, got %q", v)
}

// defaultClientID makes a client id unique to this instance: "aimdb-<instance>-<8 hex>".
func defaultClientID(instance string) string {
	var b strings.Builder
	b.WriteString("aimdb-")
	for _, r := range instance {
		if b.Len() >= 30 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	fmt.Fprintf(&b, "-%08x", rand.Uint32())
	return b.String()
}
