package mqtt

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session/state"
)

// Presence payloads on <takeover_topic>/<client_id>, all retained. An empty payload
// (the retained message cleared) means the member left nothing to take over.
const (
	presenceOnline   = "online"       // the member is connected
	presenceLost     = "lost"         // its connection is gone: its last will
	presenceDraining = "draining by " // + the client id of the member that resumed its session
)

// MQTT 5 DISCONNECT reasons: the client asks the broker to publish its last will
// anyway; the broker closes a connection whose session another one took over.
const (
	reasonDisconnectWithWill = 0x04
	reasonSessionTakenOver   = 0x8E
)

// willDelay is the Will Delay Interval of the members' and the drains' last wills: a
// connection of the same session made within it (a member that reconnects, or takes
// its session back from a drain) cancels the will (MQTT 5 3.1.3.2.2), so a session
// handed from one connection to another starts no takeover.
const willDelay = time.Second

// takeoverStagger is how long each member after the chosen one (see rank) waits
// before it takes over a lost member's session itself, should the ones before it not
// have begun.
const takeoverStagger = 2 * time.Second

// drainQuiet is how long a resumed session must stay quiet (no message arriving, none
// waiting for the host or its acknowledgement) before it is ended.
const drainQuiet = time.Second

// takeover lets the members of a shared subscription take over each other's sessions.
// mosquitto keeps giving a lost member with a persistent session its turn in the
// shared subscription's round robin, queueing those messages for a session nobody
// reads, and frees them if the session ends (the MQTT 5 specification only says a
// broker should hand them to another member). So every member announces itself on
// <takeover_topic>/<client_id> ("online", retained) with a last will ("lost") on the
// same topic, and watches the others. When a member is lost, one survivor (chosen by
// rank, the others following if it does not start) resumes the lost member's session
// under its client id (clean start off), unsubscribes it so that the broker adds
// nothing more to it, hands every message the broker sends it (those it had queued,
// and those it had sent the lost member unacknowledged, again) to the host like its
// own, and ends the session once it is quiet. If the lost member comes back meanwhile,
// the broker hands it its session and the survivor stops; if the survivor dies while
// draining, its own last will on the lost member's topic starts another round.
type takeover struct {
	v      *v5Client
	prefix string // takeover_topic + "/"
	me     string // the instance's client id

	mu       sync.Mutex
	members  map[string]string      // client id -> its last presence payload
	timers   map[string]*time.Timer // lost members waiting for this member's turn
	draining map[string]bool        // client ids whose sessions this member drains
	stopped  bool
	wg       sync.WaitGroup
}

func newTakeover(v *v5Client) *takeover {
	return &takeover{
		v:        v,
		prefix:   v.c.s.v5.takeoverTopic + "/",
		me:       v.c.s.clientID,
		members:  map[string]string{},
		timers:   map[string]*time.Timer{},
		draining: map[string]bool{},
	}
}

// filter is the subscription to every member's presence.
func (t *takeover) filter() string { return t.prefix + "+" }

// isPresence reports whether topic is a member's presence topic.
func (t *takeover) isPresence(topic string) bool { return strings.HasPrefix(topic, t.prefix) }

// will is the last will of a connection under client id, and its properties: the
// member is lost, willDelay after its connection.
func (t *takeover) will(id string) (*paho.WillMessage, *paho.WillProperties) {
	delay := seconds(willDelay)
	return &paho.WillMessage{Topic: t.prefix + id, QoS: 1, Retain: true, Payload: []byte(presenceLost)},
		&paho.WillProperties{WillDelayInterval: &delay}
}

// announce publishes the instance's presence on its connection cur.
func (t *takeover) announce(cur *v5Session) { t.publish(cur, t.me, presenceOnline) }

// publish sets member id's retained presence, on cur (or, when nil, on the
// instance's connection if it is up).
func (t *takeover) publish(cur *v5Session, id, payload string) {
	if cur == nil {
		if cur = t.v.current(); cur == nil {
			t.v.c.log.Warn("not connected: cannot publish a member's presence", "topic", t.prefix+id, "payload", payload)
			return
		}
	}
	p := &v5LinkPublisher{v: t.v, topic: t.prefix + id, qos: 1, retain: true}
	ctx, cancel := context.WithTimeout(t.v.c.ctx, t.v.c.s.connectTimeout)
	defer cancel()
	if err := p.publishOn(ctx, cur, []byte(payload)); err != nil && t.v.c.ctx.Err() == nil {
		t.v.c.log.Warn("cannot publish a member's presence", "topic", t.prefix+id, "payload", payload, "error", err)
	}
}

// observe takes a presence message: a lost member is taken over at this member's
// turn; any other news about it cancels that.
func (t *takeover) observe(p *paho.Publish) {
	id := strings.TrimPrefix(p.Topic, t.prefix)
	if id == "" || strings.Contains(id, "/") {
		return
	}
	payload := string(p.Payload)
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == t.me {
		// Its presence says otherwise (a will of its last connection, or a member that
		// drained its session as it came back): say it again.
		if payload != presenceOnline && !t.stopped {
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				t.publish(nil, t.me, presenceOnline)
			}()
		}
		return
	}
	if payload == presenceDraining+t.me && !t.draining[id] {
		payload = presenceLost // a drain of this member's that ended without finishing
	}
	if payload == "" {
		delete(t.members, id)
	} else {
		t.members[id] = payload
	}
	if payload != presenceLost {
		if tm := t.timers[id]; tm != nil {
			tm.Stop()
			delete(t.timers, id)
		}
		return
	}
	if t.stopped || t.draining[id] || t.timers[id] != nil {
		return
	}
	d := time.Duration(t.rank(id)) * takeoverStagger
	t.v.c.log.Info("member of the shared subscription lost; taking over its session if no other member has begun", "lost_member", id, "after", d)
	t.timers[id] = time.AfterFunc(d, func() { t.begin(id) })
}

// rank is this member's place among the members that may take over lost member id:
// those online and itself, in client id order from the first after id (wrapping
// around), so that the members of a group share the work. Rank 0 begins at once.
func (t *takeover) rank(id string) int {
	ids := []string{t.me}
	for m, p := range t.members {
		if p == presenceOnline {
			ids = append(ids, m)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		if (a > id) != (b > id) { // those after id come first
			if a > id {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return slices.Index(ids, t.me)
}

// begin drains lost member id's session unless that is no longer needed.
func (t *takeover) begin(id string) {
	t.mu.Lock()
	delete(t.timers, id)
	if t.stopped || t.draining[id] || t.members[id] != presenceLost {
		t.mu.Unlock()
		return
	}
	t.draining[id] = true
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		retry := t.drain(id)
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.draining, id)
		if retry && !t.stopped && t.timers[id] == nil {
			t.members[id] = presenceLost
			t.timers[id] = time.AfterFunc(takeoverStagger, func() { t.begin(id) })
		}
	}()
}

// stop ends the takeovers under way (their connections leave their last wills, so
// another member resumes them) and waits for them.
func (t *takeover) stop() {
	t.mu.Lock()
	t.stopped = true
	for id, tm := range t.timers {
		tm.Stop()
		delete(t.timers, id)
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// drain resumes lost member id's session, hands the host what the broker sends it
// and ends the session once it is quiet. It reports whether to try again later: when
// no broker could be reached, or the drain's connection ended otherwise than by the
// lost member (or another member) taking the session over.
func (t *takeover) drain(id string) (retry bool) {
	c := t.v.c
	log := c.log.With("lost_member", id)
	in := &inbound{}
	in.init(c, c.s.maxInflight)
	var last atomic.Int64 // unix nanos of the last message
	var taken atomic.Int64
	cp := t.v.connectPacket()
	cp.ClientID, cp.CleanStart = id, false
	cp.WillMessage, cp.WillProperties = t.will(id)
	st := state.NewInMemory()
	defer st.Close()
	cur, err := t.v.dialAny(c.ctx, v5Dial{connect: cp, state: st, onPublish: func(cur *v5Session, pr paho.PublishReceived) {
		if t.isPresence(pr.Packet.Topic) { // queued for the lost member while it was away
			_ = pr.Client.Ack(pr.Packet)
			return
		}
		last.Store(time.Now().UnixNano())
		taken.Add(1)
		c.stats.takeoverMessages.Add(1)
		in.accept(v5Message{pr.Packet, pr.Client, st}, metadataOf(pr.Packet), cur.conn.dead)
	}})
	if err != nil {
		if c.ctx.Err() == nil {
			log.Warn("cannot resume a lost member's session; trying again", "error", err, "in", takeoverStagger)
		}
		return c.ctx.Err() == nil
	}
	defer in.stop()
	if !cur.limits.present {
		log.Info("a lost member's session is gone already: nothing to take over")
		t.end(cur)
		t.publish(nil, id, "")
		return false
	}
	started := time.Now()
	unrouted := c.stats.unrouted.Load()
	// The lost member came back (the broker hands it its session), or another member
	// took the session over: done; or the connection failed: try again.
	ended := func() (retry bool) {
		if d := cur.disconnect.Load(); d != nil && d.ReasonCode == reasonSessionTakenOver {
			log.Info("stopped draining a lost member's session: it was taken over", "messages", taken.Load())
			return false
		}
		log.Warn("stopped draining a lost member's session: its connection ended; trying again", "messages", taken.Load(), "cause", cur.conn.cause, "in", takeoverStagger)
		return true
	}
	log.Info("resumed a lost member's session: handing the host what the broker kept for it")
	t.publish(nil, id, presenceDraining+t.me)
	last.Store(started.UnixNano())
	if err := t.unsubscribe(cur); err != nil {
		if isClosed(cur.conn.dead) {
			return ended()
		}
		log.Warn("cannot unsubscribe a lost member's session; trying again", "error", err, "in", takeoverStagger)
		_ = cur.cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
		return true
	}
	tick := time.NewTicker(drainQuiet / 10)
	defer tick.Stop()
	for {
		select {
		case <-cur.conn.dead:
			// Let paho.golang finish with the connection, so a DISCONNECT the broker
			// sent (session taken over) is known.
			select {
			case <-cur.cli.Done():
			case <-time.After(time.Second):
			}
			return ended()
		case <-c.ctx.Done(): // closing: the last will hands the session to another member
			_ = cur.cli.Disconnect(&paho.Disconnect{ReasonCode: reasonDisconnectWithWill})
			return false
		case <-tick.C:
		}
		if in.idle() && time.Since(time.Unix(0, last.Load())) >= drainQuiet {
			break
		}
	}
	// The last acknowledgements go out with paho.golang's next batch of acks. One not
	// sent by then loses nothing: the host has the message, and the session ends.
	time.Sleep(4 * ackInterval)
	t.end(cur)
	if n := c.stats.unrouted.Load() - unrouted; n > 0 {
		log.Warn("messages of a lost member's session matched no link_from of this member: the members' link_from differ", "unrouted", n)
	}
	c.stats.takeovers.Add(1)
	log.Info("ended a lost member's session after handing the host what the broker kept for it", "messages", taken.Load(), "took", time.Since(started).Round(time.Millisecond))
	t.publish(nil, id, "")
	return false
}

// unsubscribe removes every subscription the instance makes (its members make the
// same) from the resumed session cur: the broker adds no more messages to it.
func (t *takeover) unsubscribe(cur *v5Session) error {
	filters := []string{t.filter()}
	for f := range t.v.c.filters {
		filters = append(filters, f)
	}
	slices.Sort(filters)
	ctx, cancel := context.WithTimeout(t.v.c.ctx, t.v.c.s.publishTimeout)
	defer cancel()
	_, err := cur.cli.Unsubscribe(ctx, &paho.Unsubscribe{Topics: filters})
	return err
}

// end ends the resumed session cur: DISCONNECT with a session expiry of 0, so the
// broker discards it (and its place in the shared subscriptions).
func (t *takeover) end(cur *v5Session) {
	var zero uint32
	_ = cur.cli.Disconnect(&paho.Disconnect{ReasonCode: 0, Properties: &paho.DisconnectProperties{SessionExpiryInterval: &zero}})
}
