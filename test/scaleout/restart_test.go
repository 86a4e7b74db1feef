package scaleout

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// receiveMax is the MQTT 5 receive maximum of the instances in the MQTT tests: the
// most values the broker hands one instance before it acknowledged one.
const receiveMax = 16

// restartDelay is how long after the kill the killed instance is started again: the
// packaged systemd unit's RestartSec (internal/dist/files/aimdb.service).
const restartDelay = 2 * time.Second

// TestMQTTSharedSubscriptionScaleOut: three instances share an MQTT 5 shared
// subscription, each with a persistent session (fixed client id, session expiry of an
// hour) and a disk outbox on its link_to. One is SIGKILLed mid-stream and started
// again restartDelay later on the same client id and data directory, as systemd
// does: the broker kept its session (its subscription, the values it had handed it
// unacknowledged and those it queued for it meanwhile) and hands them to the
// returning instance, and what the instance had acknowledged is in its outbox. 0 lost;
// values handled twice only where the killed instance had forwarded a value before
// the kill and the broker or its outbox gave it again after the restart.
func TestMQTTSharedSubscriptionScaleOut(t *testing.T) {
	col, insts, lastSent, done := startMQTTShared(t, persistentSessions)

	before := col.ctr.Report()
	victim := insts[1]
	rs := &resumption{killed: victim.name}
	col.setOnValue(rs.observe)
	rs.mu.Lock()
	rs.afterSeq, rs.at = lastSent.get()+1, time.Now()
	rs.mu.Unlock()
	victim.kill()
	countsAtKill := col.counts()
	time.Sleep(time.Until(rs.at.Add(restartDelay)))
	victim.restart()
	running, runningSeq := time.Now(), lastSent.get()
	kept := outboxKept(t, victim.log())

	waitFeedDone(t, done, 60*time.Second)
	r := col.waitArrived(values, 30*time.Second, 5*time.Second)
	report(t, "MQTT 5 shared subscription, persistent sessions, disk outboxes", col, r, before, countsAtKill, victim.name, rs.at, rs.backAt(), "it, started again,")
	t.Logf("  %s running again %v after the kill; its disk outbox kept %d values not yet confirmed", victim.name, running.Sub(rs.at).Round(time.Millisecond), kept)
	byVictim, byOthers := rs.downtimeShares(runningSeq)
	t.Logf("  values sent while %s was down (%d to %d): %d handled by it after the restart, %d by the others",
		victim.name, rs.afterSeq, runningSeq, byVictim, byOthers)

	if before.Duplicates != 0 {
		t.Errorf("%d values were handled twice before the kill", before.Duplicates)
	}
	if r.Lost != 0 {
		lost := col.missing(values)
		t.Errorf("lost %d values across the kill and restart, want 0: %v", r.Lost, lost[:min(len(lost), 20)])
	}
	for i := range instances {
		if n := fmt.Sprintf("i%d", i); countsAtKill[n] == 0 {
			t.Errorf("instance %s handled nothing before the kill: the stream was not shared", n)
		}
	}
	if back := rs.backAt(); back.IsZero() || back.Sub(rs.at) > recoverMax {
		t.Errorf("the killed instance's share was not handled again within %v of the kill", recoverMax)
	}
	checkRedeliveries(t, col.duplicates(), victim.name, rs.at, rs.afterSeq, receiveMax+kept)
}

// resumption watches the arrivals after a kill: when the killed instance, started
// again, forwards the first value sent after the kill (afterSeq on), and who forwarded
// the values sent after it.
type resumption struct {
	mu       sync.Mutex
	killed   string
	at       time.Time // the kill
	afterSeq uint64    // the first value sent after the kill
	back     time.Time
	after    map[uint64]string // values sent after the kill: the instance that forwarded each
}

func (rs *resumption) observe(name string, seq uint64, at time.Time) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.at.IsZero() || seq < rs.afterSeq {
		return
	}
	if rs.after == nil {
		rs.after = map[uint64]string{}
	}
	if _, ok := rs.after[seq]; !ok {
		rs.after[seq] = name
	}
	if name == rs.killed && rs.back.IsZero() {
		rs.back = at
	}
}

func (rs *resumption) backAt() time.Time {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.back
}

// downtimeShares counts the values sent from the kill to upTo that the killed instance
// and the others forwarded first.
func (rs *resumption) downtimeShares(upTo uint64) (killed, others int) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for seq := rs.afterSeq; seq <= upTo; seq++ {
		switch name, ok := rs.after[seq]; {
		case !ok:
		case name == rs.killed:
			killed++
		default:
			others++
		}
	}
	return killed, others
}

// checkRedeliveries prints the values handled twice and fails unless each is a
// redelivery: a value sent before the kill (below afterSeq), forwarded first by the
// killed instance and again by it after the kill. There can be at most maxDup: what the
// broker had handed the killed instance and not had acknowledged (receive_maximum),
// which it sends again to the returning session, and what the instance's disk outbox
// held at the restart (published, perhaps, but not confirmed), which it publishes again.
func checkRedeliveries(t *testing.T, dups []duplicate, victim string, killed time.Time, afterSeq uint64, maxDup int) {
	t.Helper()
	if len(dups) > 0 {
		t.Logf("  handled twice: %d values, sequence numbers %d to %d, at most %d explained (receive_maximum %d + the outbox's %d)",
			len(dups), dups[0].seq, dups[len(dups)-1].seq, maxDup, receiveMax, maxDup-receiveMax)
	}
	var odd []string
	for _, d := range dups {
		if d.first != victim || d.second != victim || d.at.Before(killed) || d.seq >= afterSeq {
			odd = append(odd, fmt.Sprintf("%d (%s, then %s %v after the kill)", d.seq, d.first, d.second, d.at.Sub(killed).Round(time.Millisecond)))
		}
	}
	if len(odd) > 0 {
		t.Errorf("%d values handled twice that no redelivery to the restarted instance explains: %v", len(odd), odd[:min(len(odd), 20)])
	}
	if len(dups) > maxDup {
		t.Errorf("%d values handled twice, more than the killed instance had in flight at the kill (%d)", len(dups), maxDup)
	}
}

// outboxKept returns how many values a disk outbox held from an earlier run, as the
// host logs it at start (0 when it logs nothing).
func outboxKept(t *testing.T, log string) int {
	t.Helper()
	m := keptRE.FindStringSubmatch(log)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatalf("outbox count in %q: %v", m[0], err)
	}
	return n
}

var keptRE = regexp.MustCompile(`outbox holds values from an earlier run; sending them first:.* messages=(\d+)`)
