package connect

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Delivery modes of a link_to.
const (
	// AtLeastOnce: the link holds its place in the record's ring (the record refuses
	// new values rather than overwrite one the link has not delivered) and retries
	// failed values until they succeed or are dead-lettered.
	AtLeastOnce = "at_least_once"
	// BestEffort: the link never holds producers up; values it falls behind on are
	// overwritten and counted as dropped. Failed values are still retried.
	BestEffort = "best_effort"
)

// Outbox kinds of a link_to.
const (
	OutboxMemory = "memory" // values wait in the record's buffer
	OutboxDisk   = "disk"   // values move to an on-disk FIFO as they come
)

// Defaults of the delivery options.
const (
	DefaultRetryMin       = 100 * time.Millisecond
	DefaultRetryMax       = 30 * time.Second
	DefaultOutboxMaxBytes = 256 << 20
	// DefaultPluginLinger is plugin_linger's default: it engages only above about
	// 5,000 messages per second, where batches of a few messages save CPU at a cost
	// of at most 200 µs.
	DefaultPluginLinger = 200 * time.Microsecond
	// MaxPluginLinger bounds plugin_linger: a longer hold would only add latency.
	MaxPluginLinger = time.Second
)

// Host-level options: the connector layer reads them and never passes them to a
// connector. Instance options set the defaults of their links.
var (
	linkToPolicyOptions   = []string{"delivery", "outbox", "outbox_max_bytes", "retry_min", "retry_max", "retry_for", "dead_letter"}
	linkFromPolicyOptions = []string{"dead_letter"}
	instancePolicyOptions = []string{"retry_min", "retry_max", "retry_for", "plugin_linger"}
)

// PolicyOptionDocs documents the host-level options (`aimdb plugins list --help`).
var PolicyOptionDocs = []sdk.OptionDoc{
	{Name: "delivery", Scope: sdk.ScopeLinkTo, Default: "at_least_once (best_effort when qos = 0)", Doc: "at_least_once holds the link's place in the record's ring (the record refuses values rather than overwrite undelivered ones); best_effort never holds producers up and counts what it falls behind on as dropped"},
	{Name: "outbox", Scope: sdk.ScopeLinkTo, Default: OutboxMemory, Doc: "disk moves values into an on-disk FIFO under --data-dir as they come and publishes from there; it survives restarts"},
	{Name: "outbox_max_bytes", Scope: sdk.ScopeLinkTo, Default: "268435456", Doc: "payload bytes a disk outbox holds before the link back-pressures its record (suffixes KiB, MiB, GiB)"},
	{Name: "retry_min", Scope: sdk.ScopeLinkTo, Default: DefaultRetryMin.String(), Doc: "first wait before a failed value is sent again; doubles (with jitter) per attempt; also a connector option, the default of its links"},
	{Name: "retry_max", Scope: sdk.ScopeLinkTo, Default: DefaultRetryMax.String(), Doc: "longest wait between attempts; also a connector option"},
	{Name: "retry_for", Scope: sdk.ScopeLinkTo, Default: "0 (for ever)", Doc: "give a value up (dead letter) after retrying it this long; also a connector option"},
	{Name: "plugin_linger", Scope: sdk.ScopeConnector, Default: DefaultPluginLinger.String(), Doc: "while messages flow (the plugin sent a frame within this long), it holds what the instance sends the host (inbound messages, publish results) up to this long so that more cross in one frame: less CPU per message for more latency; 0 sends at once; in-process connectors ignore it"},
	{Name: "dead_letter", Scope: sdk.ScopeLinkTo, Default: "aimdb.dead_letters", Doc: "record receiving the link's values given up on (also on link_from)"},
}

// linkPolicy is a link's delivery options, parsed once.
type linkPolicy struct {
	delivery       string
	outbox         string
	outboxMaxBytes int64
	retry          sdk.Backoff
	retryFor       time.Duration
	deadLetter     string
}

// splitOptions separates host-level options (names) from the connector's.
func splitOptions(opts sdk.Config, names []string) (host, conn sdk.Config) {
	host, conn = sdk.Config{}, sdk.Config{}
	for k, v := range opts {
		if contains(names, k) {
			host[k] = v
		} else {
			conn[k] = v
		}
	}
	return host, conn
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// instanceDefaults are the host-level options of a connector instance.
type instanceDefaults struct {
	retry    sdk.Backoff
	retryFor time.Duration
	linger   time.Duration // plugin_linger
}

func parseInstanceDefaults(host sdk.Config) (instanceDefaults, error) {
	var d instanceDefaults
	var err error
	if d.retry.Min, err = host.Duration("retry_min", DefaultRetryMin); err != nil {
		return d, err
	}
	if d.retry.Max, err = host.Duration("retry_max", DefaultRetryMax); err != nil {
		return d, err
	}
	if d.retryFor, err = host.Duration("retry_for", 0); err != nil {
		return d, err
	}
	if d.retry.Max < d.retry.Min {
		return d, sdk.Errorf(sdk.KindInvalidConfig, "option \"retry_max\": %v is below retry_min %v", d.retry.Max, d.retry.Min)
	}
	if d.linger, err = host.Duration("plugin_linger", DefaultPluginLinger); err != nil {
		return d, err
	}
	if d.linger < 0 || d.linger > MaxPluginLinger {
		return d, sdk.OptionErrorf(sdk.KindInvalidConfig, "plugin_linger", "%v is outside 0s to %v", d.linger, MaxPluginLinger)
	}
	return d, nil
}

// parseLinkPolicy reads a link_to's (or link_from's) host options; qosDefault is the
// connector kind's default for the link's qos option ("" when it has none).
func parseLinkPolicy(dir sdk.Direction, host, conn sdk.Config, def instanceDefaults, qosDefault string) (linkPolicy, error) {
	p := linkPolicy{deadLetter: host.String("dead_letter", ""), retry: def.retry, retryFor: def.retryFor,
		outbox: OutboxMemory, outboxMaxBytes: DefaultOutboxMaxBytes}
	if dir == sdk.Inbound {
		return p, nil
	}
	defDelivery := AtLeastOnce
	if q := strings.TrimSpace(conn.String("qos", qosDefault)); q == "0" {
		defDelivery = BestEffort
	}
	var err error
	if p.delivery, err = host.OneOf("delivery", defDelivery, AtLeastOnce, BestEffort); err != nil {
		return p, err
	}
	if p.outbox, err = host.OneOf("outbox", OutboxMemory, OutboxMemory, OutboxDisk); err != nil {
		return p, err
	}
	if v, ok := host["outbox_max_bytes"]; ok {
		if p.outboxMaxBytes, err = parseBytes(v); err != nil {
			return p, sdk.Errorf(sdk.KindInvalidConfig, "option \"outbox_max_bytes\": %v", err)
		}
		if p.outbox != OutboxDisk {
			return p, sdk.Errorf(sdk.KindInvalidConfig, "option \"outbox_max_bytes\" needs outbox = \"disk\"")
		}
	}
	if p.retry.Min, err = host.Duration("retry_min", def.retry.Min); err != nil {
		return p, err
	}
	if p.retry.Max, err = host.Duration("retry_max", def.retry.Max); err != nil {
		return p, err
	}
	if p.retry.Min <= 0 {
		return p, sdk.Errorf(sdk.KindInvalidConfig, "option \"retry_min\" must be positive")
	}
	if p.retry.Max < p.retry.Min {
		return p, sdk.Errorf(sdk.KindInvalidConfig, "option \"retry_max\": %v is below retry_min %v", p.retry.Max, p.retry.Min)
	}
	if p.retryFor, err = host.Duration("retry_for", def.retryFor); err != nil {
		return p, err
	}
	return p, nil
}

// parseBytes reads a byte count: digits with an optional KiB, MiB or GiB suffix.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive byte count such as 268435456 or \"256MiB\", got %q", s)
	}
	return n * mult, nil
}
