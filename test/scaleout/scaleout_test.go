package scaleout

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aimdb-dev/aimdb-go/connectors/kafka/kafkatest"
	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// Sizes of the scale-out tests: 30,000 values at 3,000/s, one instance of three
// SIGKILLed once 10,000 have arrived.
const (
	values     = 30000
	rate       = 3000
	killAfter  = 10000
	instances  = 3
	partitions = 6
	inTopic    = "scale-in"
	recoverMax = 10 * time.Second
)

// sessions says how the instances of an MQTT test keep their sessions.
type sessions int

const (
	cleanSessions      sessions = iota // a session ends with its connection
	persistentSessions                 // fixed client ids, sessions kept for an hour, disk outboxes
	takeoverSessions                   // persistentSessions, and takeover_topic
)

// mqttConfig is instance name's configuration: it takes a share of scale/in/+ (MQTT 5
// shared subscription "workers" on broker addr) and forwards each value to
// scale/done/<name>. With persistent sessions, the inbound connector keeps an MQTT 5
// session for the client id scale-<name> for an hour, and the link_to has a disk
// outbox (so an inbound value is acknowledged only once it is on disk); with takeover,
// the members also take over each other's sessions (takeover_topic).
func mqttConfig(addr, name, receiveMax string, mode sessions) string {
	session, outbox := "", ""
	if mode != cleanSessions {
		session = fmt.Sprintf(`
  client_id       = "scale-%s"
  clean_session   = false
  session_expiry  = "1h"`, name)
		outbox = `
    outbox = "disk"`
	}
	if mode == takeoverSessions {
		session += `
  takeover_topic  = "scale/members"`
	}
	return fmt.Sprintf(`connector "in" {
  plugin          = "mqtt"
  url             = "mqtt://%[1]s"
  protocol        = "5"
  receive_maximum = "%[4]s"
  reconnect_max   = "500ms"%[5]s
}
connector "out" {
  plugin        = "mqtt"
  url           = "mqtt://%[1]s"
  reconnect_max = "500ms"
}
record "seq" {
  capacity = 32768
  link_from "in://scale/in/+" {
    qos         = 1
    share_group = "workers"
  }
  link_to "out://%[2]s/%[3]s" {
    qos = 1%[6]s
  }
}
`, addr, doneTopic, name, receiveMax, session, outbox)
}

// kafkaConfig is instance name's configuration: a member of consumer group "workers"
// on topic scale-in (cluster kafkaAddr), forwarding each value to scale/done/<name>
// on broker mqttAddr.
func kafkaConfig(kafkaAddr, mqttAddr, name string) string {
	return fmt.Sprintf(`connector "in" {
  plugin          = "kafka"
  url             = "kafka://%[1]s"
  group           = "workers"
  start_offset    = "earliest"
  session_timeout = "3s"
  commit_interval = "1s"
}
connector "out" {
  plugin        = "mqtt"
  url           = "mqtt://%[2]s"
  reconnect_max = "500ms"
}
record "seq" {
  capacity = 32768
  link_from "in://%[3]s" {}
  link_to "out://%[4]s/%[5]s" { qos = 1 }
}
`, kafkaAddr, mqttAddr, inTopic, doneTopic, name)
}

// fleet starts n instances named i0, i1, ... with config(name).
func fleet(t testing.TB, n int, config func(name string) string) []*instance {
	t.Helper()
	out := make([]*instance, n)
	for i := range out {
		out[i] = startInstance(t, fmt.Sprintf("i%d", i), config(fmt.Sprintf("i%d", i)))
	}
	return out
}

// takeover watches the arrivals after a kill: when values of the killed instance's
// share (a partition it owned; for MQTT any value sent after the kill) first reach
// another instance.
type takeover struct {
	mu       sync.Mutex
	owner    map[int]string // partition -> instance that forwarded its latest value
	killed   string
	at       time.Time // the kill
	afterSeq uint64    // for MQTT: the first value sent after the kill
	moved    time.Time
}

// TestMQTTSharedSubscriptionKillWithoutRestart: three instances with clean sessions
// share an MQTT 5 shared subscription; each value is handled by exactly one; after one
// is SIGKILLed (and not started again) the broker gives everything to the other two at
// once, and the killed instance's backlog is lost.
func TestMQTTSharedSubscriptionKillWithoutRestart(t *testing.T) {
	col, insts, lastSent, done := startMQTTShared(t, cleanSessions)

	before := col.ctr.Report()
	victim := insts[1]
	tk := &takeover{killed: victim.name}
	col.setOnValue(func(name string, seq uint64, at time.Time) {
		tk.mu.Lock()
		defer tk.mu.Unlock()
		if !tk.at.IsZero() && tk.moved.IsZero() && name != tk.killed && seq >= tk.afterSeq {
			tk.moved = at
		}
	})
	tk.mu.Lock()
	tk.afterSeq, tk.at = lastSent.get()+1, time.Now()
	tk.mu.Unlock()
	victim.kill()
	killedAt := tk.at
	countsAtKill := col.counts()

	waitFeedDone(t, done, 60*time.Second)
	r := col.waitArrived(values, 30*time.Second, 5*time.Second)
	report(t, "MQTT 5 shared subscription", col, r, before, countsAtKill, victim.name, killedAt, tk.movedAt(), "the others")
	if before.Duplicates != 0 {
		t.Errorf("%d values were handled twice before the kill", before.Duplicates)
	}
	checkRecovery(t, killedAt, tk.movedAt())
	checkShares(t, col, countsAtKill, victim.name, tk.afterSeq)
	if r.Duplicates != 0 {
		t.Errorf("%d values handled twice, want 0 (mosquitto never hands a value to a second member)", r.Duplicates)
	}
	// mosquitto drops what it had handed to the killed member and not had acknowledged
	// (its in-flight window, receive_maximum) and what it had queued for it, and the
	// killed process takes with it what it had acknowledged and not yet forwarded: its
	// backlog at the kill. The member gets and forwards its share in order, so every
	// lost value must come after the last one it forwarded, and be sent before the kill
	// (or in the 200 ms the broker may take to notice it). Every other value must arrive.
	lo, hi := col.highestOf(victim.name), tk.afterSeq+rate/5
	lost := col.missing(values)
	var outside []uint64
	for _, seq := range lost {
		if seq <= lo || seq > hi {
			outside = append(outside, seq)
		}
	}
	if len(lost) > 0 {
		t.Logf("  lost %d values, sequence numbers %d to %d: the killed instance's backlog (it had forwarded up to %d; the kill came after value %d was sent)", len(lost), lost[0], lost[len(lost)-1], lo, tk.afterSeq-1)
	}
	if len(outside) > 0 {
		t.Errorf("%d lost values were not in the killed instance's backlog: %v", len(outside), outside[:min(len(outside), 20)])
	}
}

// TestKafkaGroupScaleOut: three instances share a consumer group on a 6-partition
// topic; each value is handled by exactly one until one is SIGKILLed; its partitions
// move to the other two within the session timeout, which resume after the last
// committed offset: 0 lost, and duplicates only among the values the killed instance
// had taken since its last commit.
func TestKafkaGroupScaleOut(t *testing.T) {
	broker := startBroker(t)
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(partitions, inTopic), kfake.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": "1000"}))
	col := newCollector(t, broker.Addr, values)
	insts := fleet(t, instances, func(name string) string { return kafkaConfig(cl.Addr, broker.Addr, name) })
	pr := newProducer(t, cl.Addr)
	waitShared(t, col, len(insts), func(seq uint64, p []byte) {
		if err := pr.Publish(seq, p); err != nil {
			t.Fatal(err)
		}
	})
	var lastSent seqCounter
	gen := &seqload.Generator{Format: seqload.JSON, Size: 64, Count: values, Rate: rate, Counter: col.ctr,
		Publish: func(seq uint64, p []byte) error { lastSent.set(seq); return pr.Publish(seq, p) }}
	done := feed(gen, pr.flush)
	tk := &takeover{owner: map[int]string{}}
	col.setOnValue(func(name string, seq uint64, at time.Time) {
		p := int(seq % partitions)
		tk.mu.Lock()
		defer tk.mu.Unlock()
		if !tk.at.IsZero() && tk.moved.IsZero() && name != tk.killed && tk.owner[p] == tk.killed {
			tk.moved = at
		}
		if tk.at.IsZero() {
			tk.owner[p] = name
		}
	})
	waitFor(t, 30*time.Second, fmt.Sprintf("%d values arrived", killAfter), func() bool { return col.ctr.Arrived() >= killAfter })

	before := col.ctr.Report()
	victim := insts[1]
	tk.mu.Lock()
	tk.killed, tk.at, tk.afterSeq = victim.name, time.Now(), lastSent.get()+1
	var owned []int
	for p, o := range tk.owner {
		if o == victim.name {
			owned = append(owned, p)
		}
	}
	tk.mu.Unlock()
	slices.Sort(owned)
	victim.kill()
	countsAtKill := col.counts()
	t.Logf("%s owned partitions %v when it was killed", victim.name, owned)
	if len(owned) == 0 {
		t.Fatalf("%s owned no partition: the group did not balance", victim.name)
	}

	waitFeedDone(t, done, 60*time.Second)
	r := col.waitArrived(values, 30*time.Second, 8*time.Second)
	report(t, "Kafka consumer group", col, r, before, countsAtKill, victim.name, tk.at, tk.movedAt(), "the others")
	if before.Duplicates != 0 {
		t.Errorf("%d values were handled twice before the kill", before.Duplicates)
	}
	checkRecovery(t, tk.at, tk.movedAt())
	checkShares(t, col, countsAtKill, victim.name, tk.afterSeq)
	if r.Lost != 0 {
		t.Errorf("lost %d values across the kill, want 0", r.Lost)
	}
	// Values handled twice: those the killed instance had taken since its last commit
	// (commit_interval = 1s), handled again by the new owner of their partition.
	if maxDup := uint64(2 * rate / instances); r.Duplicates > maxDup {
		t.Errorf("%d values handled twice, more than 2 commit intervals of the killed instance's share (%d)", r.Duplicates, maxDup)
	}
}

func (tk *takeover) movedAt() time.Time {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	return tk.moved
}

// report prints the per-instance counts, the totals and the time to recover.
func report(t *testing.T, what string, col *collector, r, before seqload.Report, atKill map[string]int, victim string, killed, moved time.Time, handledBy string) {
	t.Helper()
	counts := col.counts()
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	slices.Sort(names)
	t.Logf("%s: %d instances, %d values at %d/s; %s SIGKILLed after %d arrived", what, instances, values, rate, victim, before.Arrived)
	for _, n := range names {
		t.Logf("  %s handled %6d (%6d before the kill)", n, counts[n], atKill[n])
	}
	recovery := "never"
	if !moved.IsZero() {
		recovery = moved.Sub(killed).Round(time.Millisecond).String()
	}
	t.Logf("  sent %d, arrived %d, lost %d, duplicated %d (%d before the kill), out of order %d; the killed instance's share handled by %s %s after the kill",
		r.Sent, r.Arrived, r.Lost, r.Duplicates, before.Duplicates, r.Reordered, handledBy, recovery)
}

// checkRecovery fails unless the killed instance's share reached another instance
// within recoverMax.
func checkRecovery(t *testing.T, killed, moved time.Time) {
	t.Helper()
	if moved.IsZero() || moved.Sub(killed) > recoverMax {
		t.Errorf("the killed instance's share was not handled by the others within %v", recoverMax)
	}
}

// checkShares fails unless every instance handled values before the kill and the
// killed one none sent after it (afterSeq on).
func checkShares(t *testing.T, col *collector, atKill map[string]int, victim string, afterSeq uint64) {
	t.Helper()
	for i := range instances {
		n := fmt.Sprintf("i%d", i)
		if atKill[n] == 0 {
			t.Errorf("instance %s handled nothing before the kill: the stream was not shared", n)
		}
	}
	if h := col.highestOf(victim); h >= afterSeq {
		t.Errorf("the killed instance %s forwarded value %d, sent after the kill (from %d on)", victim, h, afterSeq)
	}
}

// waitShared sends probe values (sequence numbers from col's capacity on, outside
// the counted range) through send until each of n instances forwarded one: all of
// them take part in the shared subscription or the group.
func waitShared(t testing.TB, col *collector, n int, send func(seq uint64, payload []byte)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for seq := uint64(len(col.seen)); col.probed() < n; seq++ {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s only %d of %d instances forwarded probe values", col.probed(), n)
		}
		send(seq, seqload.Encode(seqload.JSON, seq, time.Now(), 64))
		time.Sleep(20 * time.Millisecond)
	}
}

// seqCounter holds the last sequence number sent.
type seqCounter struct {
	mu  sync.Mutex
	seq uint64
}

func (s *seqCounter) set(v uint64) { s.mu.Lock(); s.seq = v; s.mu.Unlock() }
func (s *seqCounter) get() uint64  { s.mu.Lock(); defer s.mu.Unlock(); return s.seq }

// producer produces values to the input topic, value seq to partition seq % 6.
type producer struct {
	cl      *kgo.Client
	mu      sync.Mutex
	err     error
	pending sync.WaitGroup
}

func newProducer(t *testing.T, addr string) *producer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &producer{cl: cl}
}

// Publish is a seqload Generator's Publish.
func (p *producer) Publish(seq uint64, payload []byte) error {
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	if err != nil {
		return err
	}
	p.pending.Add(1)
	p.cl.Produce(context.Background(), &kgo.Record{Topic: inTopic, Partition: int32(seq % partitions), Value: payload}, func(_ *kgo.Record, err error) {
		if err != nil {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
		}
		p.pending.Done()
	})
	return nil
}

// flush waits for every value to be acknowledged.
func (p *producer) flush() error {
	p.pending.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// feed runs a Generator in the background; the channel yields its result once it and
// flush are done.
func feed(g *seqload.Generator, flush func() error) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := g.Run(context.Background())
		if err == nil {
			err = flush()
		}
		done <- err
	}()
	return done
}

func waitFeedDone(t testing.TB, done <-chan error, d time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("feeding values: %v", err)
		}
	case <-time.After(d):
		t.Fatalf("feeding values: not done within %v", d)
	}
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startMQTTShared starts mosquitto, the collector and a fleet sharing an MQTT 5
// subscription (sessions as mode says), waits until every instance
// takes a share, then feeds the values and returns once killAfter of them arrived,
// with the last sequence number sent so far and the feed's end.
func startMQTTShared(t *testing.T, mode sessions) (*collector, []*instance, *seqCounter, <-chan error) {
	broker := startBroker(t)
	col := newCollector(t, broker.Addr, values)
	insts := fleet(t, instances, func(name string) string {
		return mqttConfig(broker.Addr, name, fmt.Sprint(receiveMax), mode)
	})
	pub := &mqttPublisher{c: mqttClient(t, broker.Addr, nil)}
	for i := range partitions {
		pub.topics = append(pub.topics, fmt.Sprintf("scale/in/%d", i))
	}
	waitShared(t, col, len(insts), func(seq uint64, p []byte) {
		if pub.c.Publish(pub.topics[seq%partitions], 1, false, p).WaitTimeout(10 * time.Second) {
			return
		}
		t.Fatal("probe not acknowledged")
	})
	lastSent := new(seqCounter)
	gen := &seqload.Generator{Format: seqload.JSON, Size: 64, Count: values, Rate: rate, Counter: col.ctr,
		Publish: func(seq uint64, p []byte) error { lastSent.set(seq); return pub.Publish(seq, p) }}
	done := feed(gen, pub.flush)
	waitFor(t, 30*time.Second, fmt.Sprintf("%d values arrived", killAfter), func() bool { return col.ctr.Arrived() >= killAfter })
	return col, insts, lastSent, done
}
