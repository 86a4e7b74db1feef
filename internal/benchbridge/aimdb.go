package benchbridge

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// AimDB bridges through `aimdb run`: one record fed by an MQTT link_from and
// published by an MQTT link_to, both on the same connector instance.
type AimDB struct {
	// Bin is the aimdb command, Plugins the directory of its plugins.
	Bin, Plugins string
	// Linger, when not nil, is the connector's plugin_linger; nil keeps the default.
	Linger *time.Duration
	// QuickAck, when set, is the connector's tcp_quickack.
	QuickAck string
}

// Name returns "AimDB", with " linger=D" and " quickack=Q" when they are set.
func (a AimDB) Name() string {
	n := "AimDB"
	if a.Linger != nil {
		n += " linger=" + a.Linger.String()
	}
	if a.QuickAck != "" {
		n += " quickack=" + a.QuickAck
	}
	return n
}

// Topic returns bench/in.
func (AimDB) Topic() string { return InTopic }

const aimdbConfig = `connector "mqtt" {
  url       = "mqtt://127.0.0.1:%[1]d"
  client_id = "bench-aimdb"
%[7]s}

record "bench.data" {
  buffer   = "spmc_ring"
  capacity = %[2]d
  link_from "mqtt://%[3]s" {
    qos   = %[5]d
    codec = %[6]q
  }
  link_to "mqtt://%[4]s" {
    qos   = %[5]d
    codec = %[6]q
  }
}
`

// aimdbConfigFor is the configuration of one run: codec raw for ASCII payloads, json
// for JSON ones; linger, when not nil, is the connector's plugin_linger, quickAck,
// when set, its tcp_quickack.
func aimdbConfigFor(s Setup, linger *time.Duration, quickAck string) []byte {
	codec := "raw"
	if s.Format == seqload.JSON {
		codec = "json"
	}
	extra := ""
	if linger != nil {
		extra = fmt.Sprintf("  plugin_linger = %q\n", linger.String())
	}
	if quickAck != "" {
		extra += fmt.Sprintf("  tcp_quickack  = %q\n", quickAck)
	}
	return fmt.Appendf(nil, aimdbConfig, s.Port, s.Capacity, InTopic, OutTopic, s.QoS, codec, extra)
}

// Start writes the configuration and runs aimdb with its control socket in s.Dir.
func (a AimDB) Start(s Setup) (*Proc, error) {
	conf := filepath.Join(s.Dir, "aimdb.hcl")
	if err := os.WriteFile(conf, aimdbConfigFor(s, a.Linger, a.QuickAck), 0o644); err != nil {
		return nil, fmt.Errorf("aimdb config: %w", err)
	}
	return startProc("aimdb", s.Dir, filepath.Join(s.Dir, "aimdb.log"), nil,
		a.Bin, "run", "--plugins", a.Plugins, "--config", conf,
		"--control", "unix://"+filepath.Join(s.Dir, "aimdb.sock"), "--log-level", "warn")
}
