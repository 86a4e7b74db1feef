package kafka

import (
	"fmt"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Option names. Producer options may be set on the connector (the default for every
// link_to) and overridden on one link_to; group and start_offset likewise for link_from.
const (
	optClientID         = "client_id"
	optTLS              = "tls"
	optTLSCA            = "tls_ca"
	optTLSCert          = "tls_cert"
	optTLSKey           = "tls_key"
	optTLSServerName    = "tls_server_name"
	optTLSInsecure      = "tls_insecure_skip_verify"
	optSASLMechanism    = "sasl_mechanism"
	optSASLUser         = "sasl_user"
	optSASLPassword     = "sasl_password"
	optSASLPasswordEnv  = "sasl_password_env"
	optAutoCreateTopics = "auto_create_topics"
	optDialTimeout      = "dial_timeout"
	optPublishTimeout   = "publish_timeout"
	optCommitInterval   = "commit_interval"
	optMaxPollRecords   = "max_poll_records"
	optSessionTimeout   = "session_timeout"

	optAcks          = "acks"
	optIdempotent    = "idempotent"
	optCompression   = "compression"
	optLinger        = "linger"
	optBatchMaxBytes = "batch_max_bytes"
	optKey           = "key"
	optKeyField      = "key_field"
	optHeaders       = "headers"

	optGroup       = "group"
	optStartOffset = "start_offset"
)

// Values of the enumerated options.
var (
	acksValues        = []string{"all", "leader", "none"}
	compressionValues = []string{"none", "gzip", "snappy", "lz4", "zstd"}
	offsetValues      = []string{"earliest", "latest"}
	saslValues        = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
)

var (
	producerOptions   = []string{optAcks, optIdempotent, optCompression, optLinger, optBatchMaxBytes}
	consumerOptions   = []string{optGroup, optStartOffset}
	connectorOnly     = []string{optClientID, optTLS, optTLSCA, optTLSCert, optTLSKey, optTLSServerName, optTLSInsecure, optSASLMechanism, optSASLUser, optSASLPassword, optSASLPasswordEnv, optAutoCreateTopics, optDialTimeout, optPublishTimeout, optCommitInterval, optMaxPollRecords, optSessionTimeout}
	linkToOptions     = append([]string{optKey, optKeyField, optHeaders}, producerOptions...)
	linkFromOptions   = consumerOptions
	connectorOptions  = concat(connectorOnly, producerOptions, consumerOptions)
	defaultLinger     = time.Duration(0)
	defaultBatchBytes = 1_000_000
)

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// producerSettings are the options franz-go fixes per client. Links whose effective
// settings are equal share one producer client.
type producerSettings struct {
	acks          string
	idempotent    bool
	compression   string
	linger        time.Duration
	batchMaxBytes int
}

// parseProducer reads the producer options of link over those of the connector (base).
// Idempotent writes need acks=all: an unset idempotent follows acks, an explicit
// idempotent=true with another acks value is an error.
func parseProducer(base, link sdk.Config) (producerSettings, error) {
	get := func(k string) (string, bool) {
		if v, ok := link[k]; ok {
			return v, true
		}
		v, ok := base[k]
		return v, ok
	}
	merged := sdk.Config{}
	for _, k := range producerOptions {
		if v, ok := get(k); ok {
			merged[k] = v
		}
	}
	var s producerSettings
	var err error
	if s.acks, err = merged.OneOf(optAcks, "all", acksValues...); err != nil {
		return s, err
	}
	if s.compression, err = merged.OneOf(optCompression, "none", compressionValues...); err != nil {
		return s, err
	}
	if s.linger, err = merged.Duration(optLinger, defaultLinger); err != nil {
		return s, err
	}
	if s.linger > time.Minute {
		return s, sdk.OptionErrorf(sdk.KindInvalidConfig, optLinger, "%s is longer than the 1m limit", s.linger)
	}
	if s.batchMaxBytes, err = merged.IntIn(optBatchMaxBytes, defaultBatchBytes, 1024, 100<<20); err != nil {
		return s, err
	}
	_, explicit := merged[optIdempotent]
	if s.idempotent, err = merged.Bool(optIdempotent, s.acks == "all"); err != nil {
		return s, err
	}
	if explicit && s.idempotent && s.acks != "all" {
		return s, sdk.OptionErrorf(sdk.KindInvalidConfig, optIdempotent, "an idempotent producer needs acks = \"all\", got acks = %q (set idempotent = \"false\" or acks = \"all\")", s.acks)
	}
	return s, nil
}

// keySettings say how a link_to derives each record's key.
type keySettings struct {
	key      string   // fixed key, when set
	field    []string // JSON path of the key field, when set
	fieldRaw string   // key_field as written, for errors
	headers  bool     // attach aimdb-key / aimdb-produced-at headers
}

// linkTo is one parsed link_to configuration.
type linkTo struct {
	producer producerSettings
	key      keySettings
}

func parseLinkTo(base sdk.Config, topic string, cfg sdk.Config) (linkTo, error) {
	var l linkTo
	if err := validateTopic(topic); err != nil {
		return l, err
	}
	if err := cfg.Unknown(linkToOptions...); err != nil {
		return l, err
	}
	var err error
	if l.producer, err = parseProducer(base, cfg); err != nil {
		return l, err
	}
	_, hasKey := cfg[optKey]
	_, hasField := cfg[optKeyField]
	if hasKey && hasField {
		return l, sdk.AtOption(optKey, sdk.Errorf(sdk.KindInvalidConfig, "options %q and %q exclude each other: set one", optKey, optKeyField))
	}
	l.key.key = cfg.String(optKey, "")
	if hasField {
		l.key.fieldRaw = cfg[optKeyField]
		if l.key.field, err = parseFieldPath(l.key.fieldRaw); err != nil {
			return l, err
		}
	}
	if l.key.headers, err = cfg.Bool(optHeaders, true); err != nil {
		return l, err
	}
	return l, nil
}

// consumerSettings are the options of one consumer group client.
type consumerSettings struct {
	group       string
	startOffset string
}

func parseLinkFrom(base sdk.Config, instance, topic string, cfg sdk.Config) (consumerSettings, error) {
	if err := validateTopic(topic); err != nil {
		return consumerSettings{}, err
	}
	if err := cfg.Unknown(linkFromOptions...); err != nil {
		return consumerSettings{}, err
	}
	return parseConsumer(instance, base, cfg)
}

// parseConsumer reads the group options of link over those of the connector (base).
func parseConsumer(instance string, base, link sdk.Config) (consumerSettings, error) {
	var s consumerSettings
	merged := sdk.Config{}
	for _, k := range consumerOptions {
		if v, ok := base[k]; ok {
			merged[k] = v
		}
		if v, ok := link[k]; ok {
			merged[k] = v
		}
	}
	s.group = merged.String(optGroup, defaultGroup(instance))
	if s.group == "" {
		return s, sdk.OptionErrorf(sdk.KindInvalidConfig, optGroup, "empty consumer group name")
	}
	var err error
	if s.startOffset, err = merged.OneOf(optStartOffset, "latest", offsetValues...); err != nil {
		return s, err
	}
	return s, nil
}

// defaultGroup is the consumer group of an instance that names none.
func defaultGroup(instance string) string {
	if instance == "" {
		instance = "kafka"
	}
	return "aimdb-" + instance
}

// validateTopic checks a Kafka topic name: 1..249 characters from [a-zA-Z0-9._-],
// neither "." nor "..". Wildcards are refused with a hint, since Kafka topics have no levels.
func validateTopic(topic string) error {
	switch {
	case topic == "":
		return sdk.Errorf(sdk.KindInvalidDestination, "empty Kafka topic (want kafka://TOPIC)")
	case topic == "." || topic == "..":
		return sdk.Errorf(sdk.KindInvalidDestination, "topic %q: \".\" and \"..\" are not valid Kafka topic names", topic)
	case len(topic) > 249:
		return sdk.Errorf(sdk.KindInvalidDestination, "topic %.40q...: longer than Kafka's 249 character limit", topic)
	}
	if strings.ContainsAny(topic, "+#") {
		return sdk.Errorf(sdk.KindInvalidDestination, "topic %q: the kafka connector takes exact topic names, not wildcards", topic)
	}
	for _, r := range topic {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			continue
		}
		return sdk.Errorf(sdk.KindInvalidDestination, "topic %q: character %q is not allowed (Kafka topics use a-z, A-Z, 0-9, '.', '_', '-')", topic, r)
	}
	return nil
}

// connSettings are the connector-level options (everything but producer and group options).
type connSettings struct {
	addrs          []string
	clientID       string
	tls            tlsSettings
	sasl           saslSettings
	autoCreate     bool
	dialTimeout    time.Duration
	publishTimeout time.Duration
	commitInterval time.Duration
	sessionTimeout time.Duration // a member silent this long leaves its group
	maxPoll        int
	producer       producerSettings // the connector's default producer settings
}

func parseConn(instance string, u sdk.URL, opts sdk.Config) (connSettings, error) {
	var s connSettings
	if u.Scheme == "" {
		return s, sdk.Errorf(sdk.KindInvalidConfig, "connector url is empty (want kafka://host:port[,host:port...])")
	}
	if u.Path != "" && u.Path != "/" {
		return s, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "connector url %s: unexpected path %q (want kafka://host:port[,host:port...]; topics go in link_to/link_from)", u, u.Path))
	}
	if len(u.Query) > 0 {
		return s, sdk.AtOption("url", sdk.Errorf(sdk.KindInvalidConfig, "connector url %s: query options are not read; set them as connector options", u))
	}
	addrs, err := u.Addrs(9092)
	if err != nil {
		return s, sdk.AtOption("url", err)
	}
	s.addrs = addrs
	if err := opts.Unknown(connectorOptions...); err != nil {
		return s, err
	}
	s.clientID = opts.String(optClientID, "aimdb-"+instance)
	if s.tls, err = parseTLS(opts); err != nil {
		return s, err
	}
	if s.sasl, err = parseSASL(u, opts); err != nil {
		return s, err
	}
	if s.autoCreate, err = opts.Bool(optAutoCreateTopics, false); err != nil {
		return s, err
	}
	if s.dialTimeout, err = opts.Duration(optDialTimeout, 5*time.Second); err != nil {
		return s, err
	}
	if s.publishTimeout, err = opts.Duration(optPublishTimeout, 10*time.Second); err != nil {
		return s, err
	}
	if s.publishTimeout < time.Second {
		return s, sdk.OptionErrorf(sdk.KindInvalidConfig, optPublishTimeout, "%s is below the 1s minimum", s.publishTimeout)
	}
	if s.commitInterval, err = opts.Duration(optCommitInterval, time.Second); err != nil {
		return s, err
	}
	if s.commitInterval < 10*time.Millisecond {
		return s, sdk.OptionErrorf(sdk.KindInvalidConfig, optCommitInterval, "%s is below the 10ms minimum", s.commitInterval)
	}
	if s.sessionTimeout, err = opts.Duration(optSessionTimeout, 45*time.Second); err != nil {
		return s, err
	}
	if s.sessionTimeout < time.Second || s.sessionTimeout > time.Hour {
		return s, sdk.OptionErrorf(sdk.KindInvalidConfig, optSessionTimeout, "want 1s to 1h, got %s", s.sessionTimeout)
	}
	if s.maxPoll, err = opts.IntIn(optMaxPollRecords, 500, 1, 100000); err != nil {
		return s, err
	}
	if s.producer, err = parseProducer(opts, nil); err != nil {
		return s, err
	}
	if _, err := parseConsumer(instance, opts, nil); err != nil {
		return s, err
	}
	return s, nil
}

// groupRoutes sorts inbound routes into consumer groups and checks that the links of
// one group agree on the start offset.
func groupRoutes(instance string, base sdk.Config, routes []sdk.Route) (map[string]*groupSpec, error) {
	groups := map[string]*groupSpec{}
	for _, rt := range routes {
		cs, err := parseLinkFrom(base, instance, rt.Resource, rt.Config)
		if err != nil {
			return nil, fmt.Errorf("link_from \"kafka://%s\" (record %q): %w", rt.Resource, rt.Record, err)
		}
		g := groups[cs.group]
		if g == nil {
			g = &groupSpec{settings: cs, firstRecord: rt.Record}
			groups[cs.group] = g
		} else if g.settings.startOffset != cs.startOffset {
			return nil, sdk.Errorf(sdk.KindInvalidConfig, "link_from \"kafka://%s\" (record %q): start_offset %q disagrees with %q of record %q in consumer group %q; links of one group share one start offset",
				rt.Resource, rt.Record, cs.startOffset, g.settings.startOffset, g.firstRecord, cs.group)
		}
		if !contains(g.topics, rt.Resource) {
			g.topics = append(g.topics, rt.Resource)
		}
	}
	return groups, nil
}

// groupSpec is one consumer group and the topics it reads.
type groupSpec struct {
	settings    consumerSettings
	topics      []string
	firstRecord string
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
