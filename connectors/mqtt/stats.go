package mqtt

import "sync/atomic"

// Stats is a snapshot of one instance's counters since it was built.
type Stats struct {
	// Connected says whether the client is connected now.
	Connected bool
	// Connects counts successful connections; ConnectFailures failed attempts;
	// ConnectionLosses connections that dropped.
	Connects, ConnectFailures, ConnectionLosses uint64
	// Published counts acknowledged publishes; PublishFailed publishes that failed or
	// timed out after they were handed to the client; PublishNotConnected publishes
	// refused at once because the client was not connected.
	Published, PublishFailed, PublishNotConnected uint64
	// Received counts inbound messages; Delivered those the host took; Rejected those
	// the host refused (acknowledged to the broker anyway, so it does not redeliver
	// them forever); Unrouted those no route matched; Retries re-deliveries after the
	// host could not take a value for the moment; Unacknowledged those left
	// unacknowledged because the instance closed or the connection was lost (QoS 1/2
	// come again on a persistent session; QoS 0 are lost).
	Received, Delivered, Rejected, Unrouted, Retries, Unacknowledged uint64
	// Takeovers counts lost members' sessions this instance drained and ended
	// (takeover_topic); TakeoverMessages the messages it received on them (counted in
	// Received too).
	Takeovers, TakeoverMessages uint64
}

type counters struct {
	published, publishFailed, publishNotConnected    atomic.Uint64
	received, delivered, rejected, unrouted, retries atomic.Uint64
	unacknowledged                                   atomic.Uint64
	takeovers, takeoverMessages                      atomic.Uint64
}

// Stats returns the instance's counters.
func (c *Connector) Stats() Stats {
	s := &c.stats
	rs := c.rc.Stats()
	return Stats{
		Connected:           c.rc.Connected(),
		Connects:            uint64(rs.Connects),
		ConnectFailures:     uint64(rs.Failures),
		ConnectionLosses:    uint64(rs.Losses),
		Published:           s.published.Load(),
		PublishFailed:       s.publishFailed.Load(),
		PublishNotConnected: s.publishNotConnected.Load(),
		Received:            s.received.Load(),
		Delivered:           s.delivered.Load(),
		Rejected:            s.rejected.Load(),
		Unrouted:            s.unrouted.Load(),
		Retries:             s.retries.Load(),
		Unacknowledged:      s.unacknowledged.Load(),
		Takeovers:           s.takeovers.Load(),
		TakeoverMessages:    s.takeoverMessages.Load(),
	}
}
