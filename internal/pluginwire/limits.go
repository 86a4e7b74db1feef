package pluginwire

import (
	"time"

	"google.golang.org/grpc"
)

// MaxMessageBytes is the largest gRPC message either side sends or receives. gRPC's
// default receive limit is 4 MiB, and go-plugin raises it only on the host side; an
// outbound batch or a single large payload (an HTTP body, a Kafka record) must pass
// the plugin's receive limit too, so both sides set this explicitly. It is
// MaxPayloadBytes plus room for the batch framing.
const MaxMessageBytes = MaxPayloadBytes + 1<<20

// MaxPayloadBytes is the largest single payload the boundary carries. Larger values
// fail with KindMessageTooLarge on the host before they are sent.
const MaxPayloadBytes = 16 << 20

// MaxBatchMessages is the most messages one batch holds. 1024 messages of 64 bytes
// amortise the per-send cost (about 60 µs) to well under 0.1 µs per message.
const MaxBatchMessages = 1024

// MaxBatchBytes is the most payload bytes a batch collects before it is sent; a
// single payload larger than this travels alone.
const MaxBatchBytes = 1 << 20

// MaxBatchesInFlight is how many outbound batches of one link the host sends before
// it waits for a result: enough to keep a pipelining connector busy while results
// travel back, few enough that a retry resends little.
const MaxBatchesInFlight = 8

// OversizedPrefixBytes is how much of an inbound payload larger than MaxPayloadBytes
// crosses the boundary: the host dead-letters that prefix with the full size and
// refuses the message for good.
const OversizedPrefixBytes = 64 << 10

// Batches form without a timer, as Nagle's algorithm forms TCP segments: a link sends
// a batch at once when none of its batches is in flight, and otherwise lets values
// gather until the result comes back (or a full batch is ready); a plugin sends an
// inbound batch at once when the host has acknowledged the previous one. A sparse
// stream pays no added latency, a busy one sends batches as large as the round trip
// lets values gather. Acknowledgements, results and answers are never held back.

// MaxInboundInFlight is how many inbound batches a plugin sends before it waits for
// the host's first acknowledgement of the oldest (messages the host holds for a full
// record do not count).
const MaxInboundInFlight = 32

// MaxInboundPending is how many inbound messages a plugin queues while no batch can
// be sent; beyond it inbound messages are refused with KindBufferFull, so the
// connector does not commit them upstream and retries.
const MaxInboundPending = 64 * MaxBatchMessages

// ParentPollInterval is how often a plugin checks that its host is still alive.
const ParentPollInterval = 100 * time.Millisecond

// OrphanCloseTimeout bounds how long an orphaned plugin spends closing its instances
// before it exits, so it is gone within 2 s of its host.
const OrphanCloseTimeout = time.Second

// StreamWindowBytes and ConnWindowBytes are the HTTP/2 flow-control windows of the
// plugin connection, set on both sides. Fixed windows this large mean a peer rarely
// has to send a window update, and they turn off gRPC's bandwidth-delay probing,
// which otherwise answers received data with pings: on a local socket each update
// or ping is a wake-up of both processes and buys nothing.
const (
	StreamWindowBytes = 4 << 20
	ConnWindowBytes   = 8 << 20
)

// ServerOptions are the gRPC limits and windows of the plugin's server.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.InitialWindowSize(StreamWindowBytes), grpc.InitialConnWindowSize(ConnWindowBytes),
	}
}

// DialOptions are the gRPC limits and windows of the host's connection to a plugin.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithInitialWindowSize(StreamWindowBytes), grpc.WithInitialConnWindowSize(ConnWindowBytes),
	}
}
