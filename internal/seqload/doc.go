// Package seqload generates and counts sequence-numbered payloads for load and
// fault-injection tests of a data path (a bridge, a connector, a broker).
//
// A payload carries a sequence number and the time it was sent, padded to a requested
// size (see Format). A Generator sends Count payloads with consecutive sequence
// numbers, either as fast as it can or at a fixed rate; a Counter observes what
// arrives on the other side and reports, exactly by sequence number, how many arrived,
// were lost, duplicated or reordered, and the send-to-arrival latency percentiles.
package seqload
