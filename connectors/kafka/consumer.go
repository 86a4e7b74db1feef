package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// groupConsumer reads the topics of one consumer group and hands each record to the
// host. A record's offset is marked for commit only once the host acknowledged it
// (or refused it for good), so a crash or restart re-delivers what was in flight.
type groupConsumer struct {
	c      *Connector
	spec   *groupSpec
	cl     *kgo.Client
	router *sdk.Router
	done   chan struct{}

	lastErr   atomic.Pointer[error]
	delivered atomic.Uint64
	rejected  atomic.Uint64
	unrouted  atomic.Uint64
}

func newGroupConsumer(c *Connector, spec *groupSpec, router *sdk.Router) (*groupConsumer, error) {
	start := kgo.NewOffset().AtEnd()
	if spec.settings.startOffset == "earliest" {
		start = kgo.NewOffset().AtStart()
	}
	opts := append([]kgo.Opt{}, c.common...)
	opts = append(opts,
		kgo.ConsumerGroup(spec.settings.group),
		kgo.ConsumeTopics(spec.topics...),
		kgo.ConsumeResetOffset(start),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(c.settings.commitInterval),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(c.settings.sessionTimeout),
		kgo.HeartbeatInterval(min(3*time.Second, c.settings.sessionTimeout/3)),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	g := &groupConsumer{c: c, spec: spec, router: router, done: make(chan struct{})}
	// A join that succeeds (franz-go calls this after every one, even when nothing
	// new is assigned) ends the error that made the group rejoin, such as the
	// broker being away: without it, Health would report that error until the next
	// record arrived.
	opts = append(opts, kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
		g.lastErr.Store(nil)
	}))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidConfig, "consumer settings: %w", err)
	}
	g.cl = cl
	return g, nil
}

// run polls until ctx ends. Rebalances wait between polls, so a mark never lands on a
// partition this member no longer owns.
func (g *groupConsumer) run(ctx context.Context) {
	defer close(g.done)
	g.reportMissingTopics(ctx)
	failedPolls := 0 // polls in a row that returned only errors
	for ctx.Err() == nil {
		fetches := g.cl.PollRecords(ctx, g.c.settings.maxPoll)
		if fetches.IsClientClosed() {
			return
		}
		failed := false
		fetches.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			failed = true
			e := fmt.Errorf("topic %q partition %d: %w", topic, partition, err)
			if prev := g.lastError(); prev == nil || prev.Error() != e.Error() {
				g.c.log.Warn("kafka consume error", "group", g.spec.settings.group, "error", e)
			}
			g.lastErr.Store(&e)
		})
		recs := fetches.Records()
		if len(recs) > 0 {
			g.lastErr.Store(nil)
			g.deliver(ctx, recs)
		}
		g.cl.AllowRebalance()
		switch {
		case len(recs) > 0 || !failed:
			failedPolls = 0
		default:
			failedPolls++
			select {
			case <-ctx.Done():
			case <-time.After(pollRetry.Delay(failedPolls - 1)):
			}
		}
	}
}

// reportMissingTopics logs, once the brokers answer, every topic of the group that
// does not exist, naming it. Health keeps reporting them.
func (g *groupConsumer) reportMissingTopics(ctx context.Context) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		missing, err := topicsMissing(mctx, g.cl, g.spec.topics)
		cancel()
		if err == nil {
			if len(missing) > 0 {
				g.c.log.Error("kafka link_from topic does not exist; waiting for it to be created", "group", g.spec.settings.group, "topics", missing, "auto_create_topics", g.c.settings.autoCreate)
			}
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(metadataRetry.Delay(attempt)):
		}
	}
}

// deliver hands recs to the host all at once, then settles them in order as the
// acknowledgements come: a record is marked for commit once it and every record before
// it are settled, so a restart re-delivers only what the host had not acknowledged.
// It stops, leaving the rest unmarked, when ctx ends.
func (g *groupConsumer) deliver(ctx context.Context, recs []*kgo.Record) {
	type ack struct {
		i   int
		err error
	}
	acks := make(chan ack, len(recs))
	for i, r := range recs {
		g.router.Dispatch(r.Topic, r.Value, func(err error) { acks <- ack{i, err} })
	}
	errs := make([]error, len(recs))
	got := make([]bool, len(recs))
	take := func(a ack) { got[a.i], errs[a.i] = true, a.err }
	stopping := false
	for next := 0; next < len(recs); {
		if !got[next] {
			if stopping {
				return
			}
			select {
			case a := <-acks:
				take(a)
			case <-ctx.Done():
				// Settle what the host already acknowledged, so its offsets are
				// committed on close; the rest is delivered again after a restart.
				stopping = true
				for drained := false; !drained; {
					select {
					case a := <-acks:
						take(a)
					default:
						drained = true
					}
				}
			}
			continue
		}
		if !g.settle(ctx, recs[next], errs[next]) {
			return
		}
		g.cl.MarkCommitRecords(recs[next])
		next++
	}
}

// settle decides what to do with r after the host answered err: count it, or deliver
// it again with backoff until the host takes or refuses it. It returns false only when
// ctx ended first, which also ends run, so no later record is marked past r.
func (g *groupConsumer) settle(ctx context.Context, r *kgo.Record, err error) bool {
	for attempt := 0; ; attempt++ {
		switch {
		case err == nil:
			g.delivered.Add(1)
			return true
		case sdk.KindOf(err) == sdk.KindNoRoute:
			g.unrouted.Add(1)
			g.c.log.Warn("kafka record matched no route; skipped", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset)
			return true
		case !sdk.Retryable(err):
			// Refused for good (the host dead-lettered it): committing past it keeps
			// one poison record from blocking its partition.
			g.rejected.Add(1)
			g.c.log.Warn("kafka record refused for good by the host (dead-lettered); skipped", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "error", err)
			return true
		}
		// Anything else (record full, timeout, closing) is passing: the record is
		// delivered again, since marking a later record would commit past this one.
		wait := deliverRetry.Delay(attempt)
		g.c.log.Warn("host did not take kafka record; retrying", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "error", err, "backoff", wait)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		err = g.router.Route(ctx, r.Topic, r.Value)
		if ctx.Err() != nil {
			return false
		}
	}
}

func (g *groupConsumer) lastError() error {
	if p := g.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// stop waits for run to return, commits the marked offsets and leaves the group,
// giving the brokers at most closeWait (or ctx) to answer.
func (g *groupConsumer) stop(ctx context.Context) error {
	select {
	case <-g.done:
	case <-ctx.Done():
		g.cl.Close()
		return sdk.Errorf(sdk.KindTimeout, "consumer did not stop: %v", ctx.Err())
	}
	ctx, cancel := context.WithTimeout(ctx, closeWait)
	defer cancel()
	err := g.cl.CommitMarkedOffsets(ctx)
	g.cl.AllowRebalance()
	if lerr := g.cl.LeaveGroupContext(ctx); lerr != nil && err == nil {
		err = lerr
	}
	g.cl.Close()
	if err != nil {
		return fmt.Errorf("committing offsets and leaving the group: %w (uncommitted values come again)", err)
	}
	return nil
}

// closeWait bounds the final commit and group leave when the brokers do not answer.
const closeWait = 5 * time.Second

// The consumer's waits: after polls that returned only errors, between metadata
// requests for missing topics, and before delivering again a record the host could
// not take.
var (
	pollRetry     = sdk.Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
	metadataRetry = sdk.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	deliverRetry  = sdk.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
)
