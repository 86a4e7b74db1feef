package mqtt_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// takeoverOptions are the options of a member with client id id of the takeover
// group on topic.
func takeoverOptions(id, topic string) sdk.Config {
	return v5With("client_id", id, "clean_session", "false", "session_expiry", "60s", "receive_maximum", "4", "takeover_topic", topic)
}

// publishN publishes messages from to to-1 (their numbers as payloads) over four
// topics under prefix.
func publishN(c *mqtttest.Client5, prefix string, from, to int) {
	for i := from; i < to; i++ {
		c.Publish(&paho.Publish{Topic: fmt.Sprintf("%s/%d", prefix, i%4), QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
}

// takeAll receives from sink until n distinct messages arrived, failing after d; it
// returns how often each arrived.
func takeAll(t *testing.T, s *sink, seen map[string]int, n int, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for len(seen) < n {
		select {
		case m := <-s.ch:
			seen[m.Payload]++
		case <-deadline:
			t.Fatalf("%d of %d messages arrived within %v", len(seen), n, d)
		}
	}
}

// Two members of a shared subscription with takeover_topic: a holds every message it
// gets (the broker keeps receive_maximum of them in flight to it and queues the rest
// of its share); when a stops, b resumes a's session, takes every message the broker
// had kept for a, and ends the session, so that the broker gives b everything from
// then on. Each message reaches b exactly once, and the members' presence messages
// tell the story: a online, lost, drained by b, cleared.
func TestV5TakeoverAfterAStop(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Quiet: true})
	watch := mqtttest.Connect5(t, broker.Addr, "watch")
	watch.Subscribe("tk/members/+", 1)
	opts := func(id string) sdk.Config { return takeoverOptions(id, "tk/members") }
	r := route(1, "tk/in/+", sdk.Config{"qos": "1", "share_group": "workers"})
	a := start(t, "a", broker.URL(false), opts("tk-a"), r)
	a.sink.setAnswer(func(run.Message) error { return errHold })
	b := start(t, "b", broker.URL(false), opts("tk-b"), r)
	a.waitHealthy(t, 5*time.Second)
	b.waitHealthy(t, 5*time.Second)

	outside := mqtttest.Connect5(t, broker.Addr, "outside")
	const n = 100
	send := func(from, to int) {
		for i := from; i < to; i++ {
			outside.Publish(&paho.Publish{Topic: fmt.Sprintf("tk/in/%d", i%4), QoS: 1, Payload: []byte(strconv.Itoa(i))})
		}
	}
	seen := map[string]int{}
	take := func(want int, d time.Duration) {
		t.Helper()
		deadline := time.After(d)
		for len(seen) < want {
			select {
			case m := <-b.sink.ch:
				seen[m.Payload]++
			case <-deadline:
				t.Fatalf("b has %d of %d messages after %v", len(seen), want, d)
			}
		}
	}
	send(0, n)
	time.Sleep(500 * time.Millisecond) // b takes its share
	for len(b.sink.ch) > 0 {
		seen[(<-b.sink.ch).Payload]++
	}
	before := len(seen)
	if before == 0 || before > n-10 {
		t.Fatalf("b took %d of %d messages before a stopped: the broker did not share", before, n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	take(n, 10*time.Second)
	send(n, n+20) // a's session is gone: b gets them all
	take(n+20, 5*time.Second)
	b.sink.quiet(t, 300*time.Millisecond)
	for p, c := range seen {
		if c != 1 {
			t.Errorf("message %s reached b %d times", p, c)
		}
	}
	t.Logf("b took %d messages before a stopped, %d of a's share after, 0 lost, 0 duplicated", before, n-before)

	var story []string
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(story, "") && time.Now().Before(deadline) {
		if m := watch.Next(5 * time.Second); m.Topic == "tk/members/tk-a" {
			story = append(story, string(m.Payload))
		}
	}
	if want := []string{"online", "lost", "draining by tk-b", ""}; !slices.Equal(story, want) {
		t.Errorf("presence of a: %q, want %q", story, want)
	}
	if !strings.Contains(b.log.String(), "ended a lost member's session") {
		t.Errorf("b did not log that it ended a's session:\n%s", b.log.String())
	}
	if st := b.conn.Stats(); st.Takeovers != 1 || st.TakeoverMessages != uint64(n-before) {
		t.Errorf("b's counters: %d takeovers, %d takeover messages; want 1, %d", st.Takeovers, st.TakeoverMessages, n-before)
	}
}

// A lost member that comes back while another drains its session gets its session
// back from the broker: the drain stops, and what the drain had not acknowledged
// reaches the returning member. Nothing is lost, and the returning member's presence
// stays.
func TestV5TakeoverYieldsToTheReturningMember(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Quiet: true})
	opts := func(id string) sdk.Config { return takeoverOptions(id, "ty/members") }
	r := route(1, "ty/in/+", sdk.Config{"qos": "1", "share_group": "workers"})
	a := start(t, "a", broker.URL(false), opts("ty-a"), r)
	a.sink.setAnswer(func(run.Message) error { return errHold })
	b := start(t, "b", broker.URL(false), opts("ty-b"), r)
	a.waitHealthy(t, 5*time.Second)
	b.waitHealthy(t, 5*time.Second)
	outside := mqtttest.Connect5(t, broker.Addr, "outside")
	const n = 100
	for i := range n {
		outside.Publish(&paho.Publish{Topic: fmt.Sprintf("ty/in/%d", i%4), QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
	time.Sleep(500 * time.Millisecond)
	seen := map[string]int{}
	for len(b.sink.ch) > 0 {
		seen[(<-b.sink.ch).Payload]++
	}
	if len(seen) == 0 || len(seen) > n-10 {
		t.Fatalf("b took %d of %d messages before a stopped: the broker did not share", len(seen), n)
	}
	b.sink.setAnswer(func(run.Message) error { return errHold }) // the drain never ends
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.log.String(), "resumed a lost member's session") {
		if time.Now().After(deadline) {
			t.Fatalf("b did not resume a's session:\n%s", b.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	back := start(t, "a-again", broker.URL(false), opts("ty-a"), r)
	for len(seen) < n {
		select {
		case m := <-back.sink.ch:
			seen[m.Payload]++
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d messages arrived once a came back", len(seen), n)
		}
	}
	back.sink.quiet(t, 300*time.Millisecond)
	for p, c := range seen {
		if c != 1 {
			t.Errorf("message %s arrived %d times", p, c)
		}
	}
	if !strings.Contains(b.log.String(), "stopped draining a lost member's session") {
		t.Errorf("b did not log that it stopped draining:\n%s", b.log.String())
	}
	// b's "draining by ty-b" may land after a's "online"; a says it again.
	watch := mqtttest.Connect5(t, broker.Addr, "watch")
	watch.Subscribe("ty/members/ty-a", 1)
	var story []string
	for !slices.Contains(story, "online") && len(story) < 3 {
		story = append(story, string(watch.Next(5*time.Second).Payload))
	}
	if story[len(story)-1] != "online" {
		t.Errorf("presence of a after it came back: %q, want online at last", story)
	}
}

// A member that dies while it drains a lost member's session leaves a last will on the
// lost member's topic, so another member drains that session, as it drains the dead
// member's own: c gets every message of a, b and itself once.
func TestV5TakeoverSurvivesTheDeathOfTheSurvivor(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Quiet: true})
	proxy := mqtttest.NewProxy(t, broker.Addr)
	r := route(1, "tz/in/+", sdk.Config{"qos": "1", "share_group": "workers"})
	a := start(t, "a", broker.URL(false), takeoverOptions("tz-a", "tz/members"), r)
	a.sink.setAnswer(func(run.Message) error { return errHold })
	b := start(t, "b", "mqtt://"+proxy.Addr, takeoverOptions("tz-b", "tz/members"), r)
	c := start(t, "c", broker.URL(false), takeoverOptions("tz-c", "tz/members"), r)
	for _, i := range []*instance{a, b, c} {
		i.waitHealthy(t, 5*time.Second)
	}
	outside := mqtttest.Connect5(t, broker.Addr, "outside")
	const n = 90
	publishN(outside, "tz/in", 0, n)
	time.Sleep(500 * time.Millisecond)
	seen := map[string]int{}
	for _, i := range []*instance{b, c} {
		for len(i.sink.ch) > 0 {
			seen[(<-i.sink.ch).Payload]++
		}
	}
	if len(seen) == 0 || len(seen) > n-10 {
		t.Fatalf("b and c took %d of %d messages: the broker did not share", len(seen), n)
	}

	b.sink.setAnswer(func(run.Message) error { return errHold }) // b's drain of a's session never ends
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil { // b's turn comes first
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.log.String(), "resumed a lost member's session") {
		if time.Now().After(deadline) {
			t.Fatalf("b did not resume a's session:\n%s", b.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	proxy.Block() // b dies for the broker: no DISCONNECT on either of its connections
	takeAll(t, c.sink, seen, n, 15*time.Second)
	c.sink.quiet(t, 300*time.Millisecond)
	for p, k := range seen {
		if k != 1 {
			t.Errorf("message %s arrived %d times", p, k)
		}
	}
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(c.log.String(), "ended a lost member's session after handing the host what the broker kept for it: lost_member=tz-a") {
		if time.Now().After(deadline) {
			t.Fatalf("c did not end a's session:\n%s", c.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Each member after the first takes over a lost member takeover stagger after the one
// before it, should that one not begin: here the first is a ghost that announced itself
// and does nothing, so c begins 2 s after a stopped, and gets a's share.
func TestV5TakeoverTurns(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Quiet: true})
	ghost := mqtttest.Connect5(t, broker.Addr, "ghost")
	ghost.Publish(&paho.Publish{Topic: "tt/members/tt-b", QoS: 1, Retain: true, Payload: []byte("online")})
	r := route(1, "tt/in/+", sdk.Config{"qos": "1", "share_group": "workers"})
	a := start(t, "a", broker.URL(false), takeoverOptions("tt-a", "tt/members"), r)
	a.sink.setAnswer(func(run.Message) error { return errHold })
	c := start(t, "c", broker.URL(false), takeoverOptions("tt-c", "tt/members"), r)
	a.waitHealthy(t, 5*time.Second)
	c.waitHealthy(t, 5*time.Second)
	outside := mqtttest.Connect5(t, broker.Addr, "outside")
	const n = 60
	publishN(outside, "tt/in", 0, n)
	time.Sleep(500 * time.Millisecond)
	seen := map[string]int{}
	for len(c.sink.ch) > 0 {
		seen[(<-c.sink.ch).Payload]++
	}
	before := len(seen)
	stopped := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	takeAll(t, c.sink, seen, n, 15*time.Second)
	took := time.Since(stopped)
	t.Logf("c took %d messages before a stopped, the other %d in %v after", before, n-before, took.Round(time.Millisecond))
	if took < 2*time.Second {
		t.Errorf("c took a's share over %v after a stopped, before its turn (2 s after the ghost's)", took)
	}
	if !strings.Contains(c.log.String(), "lost_member=tt-a after=2s") {
		t.Errorf("c did not wait for its turn:\n%s", c.log.String())
	}
}
