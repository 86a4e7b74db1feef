package kafka

import "github.com/aimdb-dev/aimdb-go/sdk"

// Describe says what the connector takes and supports. Producer options appear under
// both the connector (the default for every link_to) and link_to (an override), and
// group options under both the connector and link_from.
func (Builder) Describe() sdk.Description {
	var opts []sdk.OptionDoc
	add := func(scope, name, def, doc string) {
		opts = append(opts, sdk.OptionDoc{Name: name, Scope: scope, Default: def, Doc: doc, Secret: name == optSASLPassword})
	}
	c, to, from := sdk.ScopeConnector, sdk.ScopeLinkTo, sdk.ScopeLinkFrom
	add(c, optClientID, "aimdb-<instance>", "Kafka client id sent to the brokers")
	add(c, optTLS, "false (true when a tls_* option is set)", "connect with TLS")
	add(c, optTLSCA, "system roots", "PEM file of the CA that signed the brokers' certificates")
	add(c, optTLSCert, "", "PEM client certificate for mutual TLS (with tls_key)")
	add(c, optTLSKey, "", "PEM key of tls_cert")
	add(c, optTLSServerName, "broker host", "server name to verify in the brokers' certificates")
	add(c, optTLSInsecure, "false", "skip verifying the brokers' certificates (tests only)")
	add(c, optSASLMechanism, "PLAIN when credentials are set", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	add(c, optSASLUser, "url user", "SASL user (or put it in the url: kafka://user:password@host:9092)")
	add(c, optSASLPassword, "url password", "SASL password; never printed")
	add(c, optSASLPasswordEnv, "", "name of an environment variable holding the SASL password (keeps it out of the config file)")
	add(c, optAutoCreateTopics, "false", "ask the cluster to create missing topics (it must allow it too)")
	add(c, optDialTimeout, "5s", "how long one connection attempt to a broker may take")
	add(c, optPublishTimeout, "10s", "how long Publish waits for Kafka's acknowledgement before failing (min 1s)")
	add(c, optCommitInterval, "1s", "how often offsets of values the host took are committed (also on close and rebalance)")
	add(c, optMaxPollRecords, "500", "most records handed to the host at once per consumer group")
	add(c, optSessionTimeout, "45s", "a group member (an aimdb process) that stops heartbeating leaves its group after this long, and its partitions move to the others (the broker bounds it: group.min/max.session.timeout.ms)")
	for _, scope := range []string{c, to} {
		add(scope, optAcks, "all", "acknowledgement a publish waits for: all (every in-sync replica), leader, none")
		add(scope, optIdempotent, "true with acks=all, else false", "idempotent producer (no duplicates from retries); needs acks=all")
		add(scope, optCompression, "none", "batch compression: none, gzip, snappy, lz4, zstd")
		add(scope, optLinger, "0s", "how long a batch waits for more records before it is sent")
		add(scope, optBatchMaxBytes, "1000000", "largest record batch in bytes; bounds the largest value")
	}
	add(to, optKey, "", "fixed record key for every value")
	add(to, optKeyField, "", "take the record key from this JSON field of the value (\"id\", \"device.id\")")
	add(to, optHeaders, "true", "set the aimdb-key and aimdb-produced-at record headers")
	for _, scope := range []string{c, from} {
		add(scope, optGroup, "aimdb-<instance>", "consumer group; links of one group share one client")
		add(scope, optStartOffset, "latest", "where a group without a committed offset starts: earliest or latest")
	}
	return sdk.Description{
		Version:      Version,
		Capabilities: []string{sdk.CapOutbound, sdk.CapInbound, sdk.CapAckCommit, sdk.CapHealth},
		Options:      opts,
		MaxPayload:   maxPayload(defaultBatchBytes),
	}
}
