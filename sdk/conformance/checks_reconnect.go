package conformance

import (
	"fmt"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

const (
	// backoffWindow is how long outage/backoff keeps the outside system down while
	// it counts the connector's connection attempts.
	backoffWindow = 3 * time.Second
	// maxAttemptRate bounds those attempts, on average: a loop without a pause
	// between attempts makes thousands a second even on a loaded machine, while
	// exponential backoff from 50 ms makes about six in the window.
	maxAttemptRate = 20 // per second
	// reconnectOutages is how many more outages outage/reconnects puts a process
	// through than its baseline process; a goroutine left behind per reconnect
	// shows as that many more.
	reconnectOutages = 6
)

// checkOutageBackoff keeps the outside system down for backoffWindow and counts
// the connections offered to it meanwhile. The peer counts every connection, so
// once a close hung (its instance may still be connecting) the count says nothing.
func checkOutageBackoff(r *runner) error {
	if r.hung.Load() {
		return skipf("a close did not return earlier, so instances that may still connect to the outside system would be counted too")
	}
	counter := r.cfg.Peer.(ConnectCounter)
	l := r.out(r.resource(0))
	in, err := r.build(r.target, r.spec("outage-backoff", l))
	if err != nil {
		return err
	}
	defer r.cleanup(in)
	if err := r.stopPeer(); err != nil {
		return err
	}
	before := counter.Connects()
	time.Sleep(backoffWindow)
	attempts := counter.Connects() - before
	if err := r.startPeer(); err != nil {
		return err
	}
	if limit := int64(backoffWindow / time.Second * maxAttemptRate); attempts > limit {
		return fmt.Errorf("the connector tried to connect %d times in the %s the outside system was down (at most %d): wait between attempts, with a backoff that grows (sdk.Backoff, sdk.Reconnector)", attempts, backoffWindow, limit)
	}
	return nil
}

// checkOutageReconnects compares the goroutines of a process whose instance went
// through one outage with those of one whose instance went through
// 1+reconnectOutages: a goroutine left behind by each reconnect shows as
// reconnectOutages more. Goroutines that come and go (a timer, a health check, a
// dial of a connector that reconnects without pausing) can move either count by one
// or two at the moment of the dump, so growth by more than half of reconnectOutages
// fails the check. Measured on the line connector (3 runs each): with a goroutine
// leaked per connection +6 every time; without faults 0; with the nobackoff fault,
// which does not leak, +2, +2 and -1. A bound of 2 would sit on that noise; catching
// rarer leaks takes more outages, each costing seconds in every connector's run.
func checkOutageReconnects(r *runner) error {
	base, _, err := r.goroutinesAfterOutages(1)
	if err != nil {
		return err
	}
	n, connects, err := r.goroutinesAfterOutages(1 + reconnectOutages)
	if err != nil {
		return err
	}
	if n-base > reconnectOutages/2 {
		attempts := ""
		if connects >= 0 {
			attempts = fmt.Sprintf(", with %d connections offered to the outside system over the %d outages", connects, 1+reconnectOutages)
		}
		return fmt.Errorf("goroutines grew from %d after one outage to %d after %d%s: a goroutine is left behind by each reconnect (end what a connection started when it ends)", base, n, 1+reconnectOutages, attempts)
	}
	return nil
}

// goroutinesAfterOutages builds an instance in a fresh process, puts it through
// outages (each time until a publish arrives again), and counts the process's
// goroutines, and the connections the outside system was offered meanwhile (-1
// when the peer does not count them).
func (r *runner) goroutinesAfterOutages(outages int) (goroutines int, connects int64, err error) {
	t, err := r.launchDumpable()
	if err != nil {
		return 0, 0, err
	}
	defer t.Kill()
	l := r.out(r.resource(0))
	links := []Link{l}
	if r.kind.Has(sdk.CapInbound) {
		links = append(links, r.in(r.resource(1)))
	}
	in, err := r.build(t, r.spec("reconnects", links...))
	if err != nil {
		return 0, 0, err
	}
	ch, stop, err := r.observe(r.resource(0))
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	if err := r.publishSeen(in, l, ch, r.cfg.Timeout); err != nil {
		return 0, 0, fmt.Errorf("before the outages: %w", err)
	}
	counter, counts := r.cfg.Peer.(ConnectCounter)
	counts = counts && offers(r.cfg.Peer, featureConnects)
	connects = -1
	var before int64
	if counts {
		before = counter.Connects()
	}
	for i := 1; i <= outages; i++ {
		if err := r.cycleOutage(in); err != nil {
			return 0, 0, err
		}
		if err := r.publishSeen(in, l, ch, 2*r.cfg.Timeout); err != nil {
			return 0, 0, fmt.Errorf("after outage %d: %w", i, err)
		}
	}
	if counts {
		connects = counter.Connects() - before
	}
	n, err := r.countGoroutines(t)
	return n, connects, err
}
