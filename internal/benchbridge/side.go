package benchbridge

import "github.com/aimdb-dev/aimdb-go/internal/seqload"

// Topics of every bridge: the generator publishes to InTopic, the counter listens on
// OutTopic.
const (
	InTopic  = "bench/in"
	OutTopic = "bench/out"
)

// Setup is what a side needs to bridge one run.
type Setup struct {
	// Dir is the run's private temporary directory for configuration and logs.
	Dir string
	// Port is the broker's port on 127.0.0.1.
	Port int
	// QoS is used on both legs (subscribe to bench/in, publish to bench/out).
	QoS byte
	// Format is the payload form (ASCII goes through AimDB's raw codec, JSON its json codec).
	Format seqload.Format
	// Capacity is the AimDB record's spmc_ring capacity.
	Capacity int
	// BufferLimit bounds the messages a bridge may buffer (Telegraf's metric_buffer_limit).
	BufferLimit int
}

// Side is one way of getting messages from bench/in to bench/out.
type Side interface {
	// Name is the side's label in the results.
	Name() string
	// Topic is where the generator publishes (bench/in, or bench/out for no bridge).
	Topic() string
	// Start launches the bridge; a side without a process returns nil.
	Start(s Setup) (*Proc, error)
}

// Direct is the ceiling: the generator publishes straight to bench/out.
type Direct struct{}

// Name returns "no bridge".
func (Direct) Name() string { return "no bridge" }

// Topic returns bench/out.
func (Direct) Topic() string { return OutTopic }

// Start starts nothing.
func (Direct) Start(Setup) (*Proc, error) { return nil, nil }
