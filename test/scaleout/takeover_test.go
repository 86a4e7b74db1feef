package scaleout

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMQTTSharedSubscriptionTakeover: three instances share an MQTT 5 shared
// subscription with persistent sessions, disk outboxes and takeover_topic. One is
// SIGKILLed mid-stream and stays dead: the broker keeps its session and goes on
// queueing a third of the values for it, and a survivor resumes that session, hands
// the host what the broker kept (what it had queued and what it had sent the killed
// instance unacknowledged) and ends it, so the others handle the killed instance's
// share within recoverMax. The only values the survivors cannot have are those the
// killed instance had acknowledged and not yet forwarded: they are in its disk
// outbox, and arrive when it is started again, long after the stream ended. 0 lost;
// values handled twice only among those the killed instance had when it died: ones it
// had forwarded or put in its outbox without the broker having had their
// acknowledgement (a survivor gets them again), and ones its outbox sends again
// because it had published them unconfirmed.
func TestMQTTSharedSubscriptionTakeover(t *testing.T) {
	col, insts, lastSent, done := startMQTTShared(t, takeoverSessions)

	before := col.ctr.Report()
	victim := insts[1]
	arr := &arrivals{first: map[uint64]time.Time{}}
	col.setOnValue(arr.observe)
	afterSeq, killedAt := lastSent.get()+1, time.Now()
	victim.kill()
	countsAtKill := col.counts()

	waitFeedDone(t, done, 60*time.Second)
	r := col.waitArrived(values, 30*time.Second, 5*time.Second)
	// Every value sent before the kill or in the 100 ms after it has arrived, save
	// those in the killed instance's outbox: the last of them shows when its share was
	// handled again.
	recovered := arr.last(afterSeq + rate/10)
	waiting := col.missing(values)
	report(t, "MQTT 5 shared subscription, takeover of a killed member's session", col, r, before, countsAtKill, victim.name, killedAt, recovered, "the others")
	taker := ""
	for _, in := range insts {
		if in != victim && strings.Contains(in.log(), "ended a lost member's session") {
			taker = in.name
		}
	}
	t.Logf("  %s took the killed instance's session over; %d values not arrived when the stream ended (in the killed instance's outbox)", taker, len(waiting))

	victim.restart()
	kept := outboxKept(t, victim.log())
	r = col.waitArrived(values, 30*time.Second, 5*time.Second)
	t.Logf("  %s started again after the stream: its disk outbox kept %d values; now sent %d, arrived %d, lost %d, duplicated %d",
		victim.name, kept, r.Sent, r.Arrived, r.Lost, r.Duplicates)

	if before.Duplicates != 0 {
		t.Errorf("%d values were handled twice before the kill", before.Duplicates)
	}
	if taker == "" {
		t.Errorf("no surviving instance logged that it ended the killed instance's session")
	}
	checkRecovery(t, killedAt, recovered)
	checkShares(t, col, countsAtKill, victim.name, afterSeq)
	if len(waiting) > kept {
		t.Errorf("%d values had not arrived when the stream ended, more than the killed instance's outbox kept (%d): the survivors missed some of its share", len(waiting), kept)
	}
	if r.Lost != 0 {
		lost := col.missing(values)
		t.Errorf("lost %d values, want 0: %v", r.Lost, lost[:min(len(lost), 20)])
	}
	var odd []string
	for _, d := range col.duplicates() {
		// Forwarded by the killed instance and, unacknowledged, by a survivor again; or
		// in the killed instance's outbox while, unacknowledged, the broker gave it to a
		// survivor too.
		if d.first != victim.name && d.second != victim.name || d.seq >= afterSeq || d.at.Before(killedAt) {
			odd = append(odd, fmt.Sprintf("%d (%s, then %s)", d.seq, d.first, d.second))
		}
	}
	if len(odd) > 0 {
		t.Errorf("%d values handled twice that are not the killed instance's unacknowledged or unconfirmed ones: %v", len(odd), odd[:min(len(odd), 20)])
	}
	if n := len(col.duplicates()); n > receiveMax+kept {
		t.Errorf("%d values handled twice, more than the killed instance had in flight at the kill (%d)", n, receiveMax+kept)
	}
}

// arrivals keeps the first arrival of each value after the kill.
type arrivals struct {
	mu    sync.Mutex
	first map[uint64]time.Time
}

func (a *arrivals) observe(_ string, seq uint64, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.first[seq]; !ok {
		a.first[seq] = at
	}
}

// last returns the latest first arrival, after the kill, of the values below seq.
func (a *arrivals) last(below uint64) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var t time.Time
	for seq, at := range a.first {
		if seq < below && at.After(t) {
			t = at
		}
	}
	return t
}
