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

// takeoverGroup is a shared subscription "workers" of <prefix>/in/+ on its own
// mosquitto, whose members take over each other's sessions (takeover_topic
// <prefix>/members, client ids <prefix>-<name>), and a client that publishes into it.
type takeoverGroup struct {
	t       *testing.T
	prefix  string
	broker  *mqtttest.Mosquitto
	outside *mqtttest.Client5
}

func newTakeoverGroup(t *testing.T, prefix string, opts mqtttest.Options) *takeoverGroup {
	broker := mqtttest.StartMosquitto(t, opts)
	return &takeoverGroup{t: t, prefix: prefix, broker: broker, outside: mqtttest.Connect5(t, broker.Addr, "outside")}
}

// member starts member name, connected to url ("": the broker), and waits until it
// is healthy; with hold it keeps every message it gets without acknowledging it.
func (g *takeoverGroup) member(name, url string, hold bool) *instance {
	g.t.Helper()
	if url == "" {
		url = g.broker.URL(false)
	}
	opts := v5With("client_id", g.prefix+"-"+name, "clean_session", "false", "session_expiry", "60s", "receive_maximum", "4", "takeover_topic", g.prefix+"/members")
	i := start(g.t, name, url, opts, route(1, g.prefix+"/in/+", sdk.Config{"qos": "1", "share_group": "workers"}))
	if hold {
		i.hold()
	}
	i.waitHealthy(g.t, 5*time.Second)
	return i
}

// send publishes messages from to to-1, their numbers as payloads, over four topics.
func (g *takeoverGroup) send(from, to int) {
	for i := from; i < to; i++ {
		g.outside.Publish(&paho.Publish{Topic: fmt.Sprintf("%s/in/%d", g.prefix, i%4), QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
}

// shared sends n messages and returns, half a second later, how often each reached
// the members that take theirs; it fails unless they took some and not all of them.
func (g *takeoverGroup) shared(n int, takers ...*instance) map[string]int {
	g.t.Helper()
	g.send(0, n)
	time.Sleep(500 * time.Millisecond)
	seen := map[string]int{}
	for _, i := range takers {
		for len(i.sink.ch) > 0 {
			seen[(<-i.sink.ch).Payload]++
		}
	}
	if len(seen) == 0 || len(seen) > n-10 {
		g.t.Fatalf("the members that take their messages took %d of %d: the broker did not share", len(seen), n)
	}
	return seen
}

// stop closes member i, which sends its last will.
func (g *takeoverGroup) stop(i *instance) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := i.Close(ctx); err != nil {
		g.t.Fatal(err)
	}
}

// hold makes the instance keep every message without acknowledging it.
func (i *instance) hold() { i.sink.setAnswer(func(run.Message) error { return errHold }) }

// takeAll receives from sink until n distinct messages arrived, failing after d, and
// counts how often each arrived in seen.
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
	s.quiet(t, 300*time.Millisecond)
	for p, k := range seen {
		if k != 1 {
			t.Errorf("message %s arrived %d times", p, k)
		}
	}
}

// waitLogged waits up to 5 s for i to log text.
func waitLogged(t *testing.T, i *instance, text string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(i.log.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", text, i.log.String())
		}
		time.Sleep(20 * time.Millisecond)
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
	g := newTakeoverGroup(t, "tk", mqtttest.Options{Quiet: true})
	watch := mqtttest.Connect5(t, g.broker.Addr, "watch")
	watch.Subscribe("tk/members/+", 1)
	a := g.member("a", "", true)
	b := g.member("b", "", false)
	const n = 100
	seen := g.shared(n, b)
	before := len(seen)

	g.stop(a)
	takeAll(t, b.sink, seen, n, 10*time.Second)
	g.send(n, n+20) // a's session is gone: b gets them all
	takeAll(t, b.sink, seen, n+20, 5*time.Second)
	t.Logf("b took %d messages before a stopped, the other %d after, 0 lost, 0 duplicated", before, n-before)

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
	if st := b.conn.Stats(); st.Takeovers != 1 || st.TakeoverMessages == 0 || st.Received != n+20 {
		t.Errorf("b's counters: %d takeovers, %d takeover messages, %d received; want 1, some, %d", st.Takeovers, st.TakeoverMessages, st.Received, n+20)
	}
}

// A lost member that comes back while another drains its session gets its session
// back from the broker: the drain stops, and what the drain had not acknowledged
// reaches the returning member. Nothing is lost, and the returning member's presence
// stays.
func TestV5TakeoverYieldsToTheReturningMember(t *testing.T) {
	t.Parallel()
	g := newTakeoverGroup(t, "ty", mqtttest.Options{Quiet: true})
	a := g.member("a", "", true)
	b := g.member("b", "", false)
	const n = 100
	seen := g.shared(n, b)
	b.hold() // the drain never ends
	g.stop(a)
	waitLogged(t, b, "resumed a lost member's session")
	back := g.member("a", "", false)
	takeAll(t, back.sink, seen, n, 10*time.Second)
	if !strings.Contains(b.log.String(), "stopped draining a lost member's session") {
		t.Errorf("b did not log that it stopped draining:\n%s", b.log.String())
	}
	// b's "draining by ty-b" may land after a's "online"; a says it again.
	watch := mqtttest.Connect5(t, g.broker.Addr, "watch")
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
	g := newTakeoverGroup(t, "tz", mqtttest.Options{Quiet: true})
	proxy := mqtttest.NewProxy(t, g.broker.Addr)
	a := g.member("a", "", true)
	b := g.member("b", "mqtt://"+proxy.Addr, false)
	c := g.member("c", "", false)
	const n = 90
	seen := g.shared(n, b, c)
	b.hold()  // b's drain of a's session never ends
	g.stop(a) // b's turn comes first
	waitLogged(t, b, "resumed a lost member's session")
	proxy.Block() // b dies for the broker: no DISCONNECT on either of its connections
	takeAll(t, c.sink, seen, n, 15*time.Second)
	waitLogged(t, c, "ended a lost member's session after handing the host what the broker kept for it: lost_member=tz-a")
}

// Each member after the first takes over a lost member takeover stagger after the one
// before it, should that one not begin: here the first is a ghost that announced itself
// and does nothing, so c begins 2 s after a stopped, and gets a's share.
func TestV5TakeoverTurns(t *testing.T) {
	t.Parallel()
	g := newTakeoverGroup(t, "tt", mqtttest.Options{Quiet: true})
	g.outside.Publish(&paho.Publish{Topic: "tt/members/tt-b", QoS: 1, Retain: true, Payload: []byte("online")})
	a := g.member("a", "", true)
	c := g.member("c", "", false)
	const n = 60
	seen := g.shared(n, c)
	before := len(seen)
	stopped := time.Now()
	g.stop(a)
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

// A member whose retained presence says anything but online while it is connected
// says online again, and presence messages never reach its records, though its
// link_from pattern matches them.
func TestV5TakeoverMemberCorrectsItsPresence(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Quiet: true})
	opts := v5With("client_id", "tp-a", "clean_session", "false", "session_expiry", "60s", "takeover_topic", "tp/members")
	a := start(t, "a", broker.URL(false), opts, route(1, "tp/#", sdk.Config{"qos": "1", "share_group": "workers"}))
	a.waitHealthy(t, 5*time.Second)
	watch := mqtttest.Connect5(t, broker.Addr, "watch")
	watch.Subscribe("tp/members/tp-a", 1)
	if m := watch.Next(5 * time.Second); string(m.Payload) != "online" {
		t.Fatalf("presence of a: %q, want online", m.Payload)
	}
	watch.Publish(&paho.Publish{Topic: "tp/members/tp-a", QoS: 1, Retain: true, Payload: []byte("lost")})
	var story []string
	for !slices.Contains(story, "online") && len(story) < 3 {
		story = append(story, string(watch.Next(5*time.Second).Payload))
	}
	if want := []string{"lost", "online"}; !slices.Equal(story, want) {
		t.Errorf("presence of a after a stray lost: %q, want %q", story, want)
	}
	a.sink.quiet(t, 300*time.Millisecond)
}

// A drain whose connection fails otherwise than by a takeover (here the broker
// restarts, keeping its sessions) is tried again: every message of the lost member's
// share reaches the survivor (some twice: those whose acknowledgement the restart lost).
func TestV5TakeoverTriesAgainAfterABrokerRestart(t *testing.T) {
	t.Parallel()
	g := newTakeoverGroup(t, "tr", mqtttest.Options{Quiet: true, Persistence: true})
	a := g.member("a", "", true)
	b := g.member("b", "", false)
	const n = 100
	seen := g.shared(n, b)
	b.sink.setAnswer(func(run.Message) error { time.Sleep(50 * time.Millisecond); return nil }) // the drain lasts
	g.stop(a)
	waitLogged(t, b, "resumed a lost member's session")
	g.broker.Restart()
	b.sink.setAnswer(nil)
	deadline := time.After(20 * time.Second)
	for len(seen) < n {
		select {
		case m := <-b.sink.ch:
			seen[m.Payload]++
		case <-deadline:
			t.Fatalf("%d of %d messages arrived after the broker restarted mid-drain:\n%s", len(seen), n, b.log.String())
		}
	}
	waitLogged(t, b, "stopped draining a lost member's session: its connection ended; trying again")
	waitLogged(t, b, "ended a lost member's session")
}

// Members must subscribe the same filters: what a lost member's session holds of a
// filter the survivor has no link_from for is counted as unrouted and warned about.
func TestV5TakeoverWarnsOfMessagesNoLinkTakes(t *testing.T) {
	t.Parallel()
	g := newTakeoverGroup(t, "tu", mqtttest.Options{Quiet: true})
	opts := v5With("client_id", "tu-a", "clean_session", "false", "session_expiry", "60s", "receive_maximum", "4", "takeover_topic", "tu/members")
	a := start(t, "a", g.broker.URL(false), opts,
		route(1, "tu/in/+", sdk.Config{"qos": "1", "share_group": "workers"}),
		route(2, "tu/extra/+", sdk.Config{"qos": "1", "share_group": "workers"}))
	a.hold()
	a.waitHealthy(t, 5*time.Second)
	b := g.member("b", "", false)
	for i := range 5 {
		g.outside.Publish(&paho.Publish{Topic: "tu/extra/x", QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
	g.stop(a)
	waitLogged(t, b, "matched no link_from of this member")
	if st := b.conn.Stats(); st.Unrouted != 5 || st.TakeoverMessages != 5 {
		t.Errorf("b's counters: %d unrouted, %d takeover messages; want 5, 5", st.Unrouted, st.TakeoverMessages)
	}
}
