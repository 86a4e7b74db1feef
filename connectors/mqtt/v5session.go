package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session/state"
)

// v5Client is an instance's MQTT 5 client (paho.golang, protocol = 5). The instance's
// Reconnector drives it like the MQTT 3.1.1 client: one paho.golang client per
// connection, made by session, over one session state (packet ids, QoS 1/2 messages
// not yet acknowledged) that outlives connections, so a session the broker kept
// resumes where it stopped. Inbound messages go through the instance's ordered acks
// (inbound.go); outbound messages through v5LinkPublisher.
type v5Client struct {
	c       *Connector
	tls     *tls.Config
	state   *state.State
	started bool // a connection came up: later ones resume the session (session goroutine only)

	tk *takeover // takeover_topic, or nil

	mu  sync.Mutex
	cur *v5Session // the connection that is up, or nil
}

// v5Session is one MQTT 5 connection: its client, its socket and what the broker's
// CONNACK allowed.
type v5Session struct {
	cli     *paho.Client
	conn    *v5Conn
	limits  v5Limits
	aliases atomic.Uint32 // topic aliases handed out on this connection
	// disconnect is the broker's DISCONNECT, when it closed the connection with one.
	disconnect atomic.Pointer[paho.Disconnect]
}

// v5Limits are what a broker's CONNACK allows its client.
type v5Limits struct {
	maxPacket     uint32 // largest packet the broker takes; 0: no limit
	maxQoS        byte
	retain        bool
	topicAliasMax uint16
	receiveMax    uint16 // QoS 1/2 publishes the broker takes unacknowledged
	present       bool   // the broker had a session for the client id
}

// ackInterval is how often acknowledgements of inbound messages the host took go out
// (paho.golang sends them in order, in batches). It bounds how long a broker waits for
// the acknowledgement that frees a slot of receive_maximum.
const ackInterval = 5 * time.Millisecond

func newV5Client(c *Connector, tc *tls.Config) *v5Client {
	v := &v5Client{c: c, tls: tc, state: state.NewInMemory()}
	if c.s.v5.takeoverTopic != "" {
		v.tk = newTakeover(v)
	}
	c.rc.Session = v.session
	return v
}

// run is the session loop: the Reconnector runs session until the instance closes;
// then the client publishes the offline status and disconnects.
func (v *v5Client) run(context.Context) {
	c := v.c
	defer close(c.done)
	defer v.disconnect()
	defer c.firstOnce.Do(func() { close(c.first) })
	c.rc.Run(c.ctx)
}

// current returns the connection that is up, or nil.
func (v *v5Client) current() *v5Session {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cur
}

func (v *v5Client) setCurrent(cur *v5Session) {
	v.mu.Lock()
	v.cur = cur
	v.mu.Unlock()
}

// session is one connection, from the attempt to its loss: connect (every broker in
// turn), subscribe every route, publish the birth message, and serve until the
// connection drops or ctx ends.
func (v *v5Client) session(ctx context.Context) error {
	c, s := v.c, v.c.s
	cur, err := v.connect(ctx)
	if err != nil {
		c.firstOnce.Do(func() { close(c.first) })
		return err
	}
	c.rc.MarkUp("client_id", s.clientID, "protocol", protocol5, "session_present", cur.limits.present,
		"broker_receive_maximum", cur.limits.receiveMax, "topic_alias_maximum", cur.limits.topicAliasMax)
	v.subscribe(ctx, cur)
	v.publishStatus(cur, s.statusOnline)
	if v.tk != nil {
		v.tk.announce(cur)
	}
	c.firstOnce.Do(func() { close(c.first) })
	select {
	case <-ctx.Done():
		return ctx.Err() // run's disconnect ends the connection
	case <-cur.conn.dead:
	}
	cause := fmt.Errorf("connection lost: %w", cur.conn.cause)
	c.rc.MarkDown(cause)
	v.setCurrent(nil)
	c.inbound.newConnection()
	// Let paho.golang finish with the connection (its handler returns: the
	// connection is gone), so a DISCONNECT the broker sent is known.
	select {
	case <-cur.cli.Done():
	case <-time.After(time.Second):
	}
	if d := cur.disconnect.Load(); d != nil {
		reason := ""
		if d.Properties != nil {
			reason = d.Properties.ReasonString
		}
		return fmt.Errorf("broker closed the connection: %s", reasonText(d.ReasonCode, reason))
	}
	return cause
}

// connect tries every broker in turn and returns the first connection that comes up.
func (v *v5Client) connect(ctx context.Context) (*v5Session, error) {
	cur, err := v.dialAny(ctx, v5Dial{connect: v.connectPacket(), state: v.state, onPublish: v.onPublish})
	if err == nil {
		v.started = true
		v.setCurrent(cur)
	}
	return cur, err
}

// onPublish takes a message that arrived on the instance's own connection cur: a
// takeover presence message, or one for the host.
func (v *v5Client) onPublish(cur *v5Session, pr paho.PublishReceived) {
	if v.tk != nil && v.tk.isPresence(pr.Packet.Topic) {
		v.tk.observe(pr.Packet)
		_ = pr.Client.Ack(pr.Packet)
		return
	}
	v.c.inbound.accept(v5Message{pr.Packet, pr.Client, v.state}, metadataOf(pr.Packet), cur.conn.dead)
}

// v5Dial is what one MQTT 5 connection is made with: its CONNECT, the session state
// it works on and what takes its inbound messages.
type v5Dial struct {
	connect   *paho.Connect
	state     *state.State
	onPublish func(*v5Session, paho.PublishReceived)
}

// dialAny tries every broker in turn and returns the first connection that comes up.
func (v *v5Client) dialAny(ctx context.Context, d v5Dial) (*v5Session, error) {
	var failed []string
	var last error
	for _, addr := range v.c.s.addrs {
		cur, err := v.connectTo(ctx, addr, d)
		if err == nil {
			return cur, nil
		}
		last = fmt.Errorf("broker %s: %w", addr, err)
		failed = append(failed, last.Error())
		if ctx.Err() != nil {
			break
		}
	}
	if len(failed) > 1 {
		return nil, errors.New(strings.Join(failed, "; "))
	}
	return nil, last
}

// connectTo makes one connection attempt to addr within connect_timeout.
func (v *v5Client) connectTo(ctx context.Context, addr string, d v5Dial) (*v5Session, error) {
	s := v.c.s
	ctx, cancel := context.WithTimeout(ctx, s.connectTimeout)
	defer cancel()
	raw, err := dial(ctx, addr, v.tls, v.c.ackNow())
	if err != nil {
		return nil, err
	}
	cur := &v5Session{conn: newV5Conn(raw)}
	// Messages wait for Connect to return: paho.golang clears its list of messages to
	// acknowledge after it has started reading (v5Message.Ack), and one acknowledged
	// before that would be forgotten.
	connected := make(chan struct{})
	cur.cli = paho.NewClient(paho.ClientConfig{
		ClientID: d.connect.ClientID,
		Conn:     cur.conn,
		Session:  d.state,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			<-connected
			d.onPublish(cur, pr)
			return true, nil
		}},
		EnableManualAcknowledgment: true, // PUBACK only once the host has the value
		SendAcksInterval:           ackInterval,
		PacketTimeout:              s.connectTimeout,
		OnServerDisconnect:         func(d *paho.Disconnect) { cur.disconnect.Store(d) },
		OnClientError:              func(error) {}, // the connection's failure shows as cur.conn.dead
	})
	ca, err := cur.cli.Connect(ctx, d.connect)
	close(connected)
	if err != nil {
		if ca != nil && ca.ReasonCode >= 0x80 {
			reason := ""
			if ca.Properties != nil {
				reason = ca.Properties.ReasonString
			}
			return nil, fmt.Errorf("refused the connection of client id %q (user %q): %s%s", d.connect.ClientID, s.username, reasonText(ca.ReasonCode, reason), connectHint(ca.ReasonCode))
		}
		return nil, err
	}
	cur.limits = v5Limits{maxQoS: 2, retain: true, receiveMax: 65535, present: ca.SessionPresent}
	if p := ca.Properties; p != nil {
		cur.limits.retain = p.RetainAvailable
		if p.MaximumPacketSize != nil {
			cur.limits.maxPacket = *p.MaximumPacketSize
		}
		if p.MaximumQoS != nil {
			cur.limits.maxQoS = *p.MaximumQoS
		}
		if p.TopicAliasMaximum != nil {
			cur.limits.topicAliasMax = *p.TopicAliasMaximum
		}
		if p.ReceiveMaximum != nil {
			cur.limits.receiveMax = *p.ReceiveMaximum
		}
	}
	return cur, nil
}

// connectPacket is the CONNECT of the next attempt. Clean Start is set only on the
// instance's first connection, and only with clean_session = true: a reconnect resumes
// the session, which the broker has kept when session_expiry allows.
func (v *v5Client) connectPacket() *paho.Connect {
	s := v.c.s
	expiry, receiveMax := seconds(s.v5.sessionExpiry), s.v5.receiveMaximum
	cp := &paho.Connect{
		ClientID:     s.clientID,
		KeepAlive:    uint16(s.keepAlive / time.Second),
		CleanStart:   s.cleanSession && !v.started,
		Username:     s.username,
		UsernameFlag: s.username != "",
		Password:     []byte(s.password),
		PasswordFlag: s.password != "",
		Properties: &paho.ConnectProperties{
			SessionExpiryInterval: &expiry,
			ReceiveMaximum:        &receiveMax,
			RequestProblemInfo:    true,
		},
	}
	switch {
	case v.tk != nil:
		cp.WillMessage, cp.WillProperties = v.tk.will(s.clientID)
	case s.statusTopic != "":
		cp.WillMessage = &paho.WillMessage{Topic: s.statusTopic, QoS: s.statusQoS, Retain: s.statusRetain, Payload: []byte(s.statusOffline)}
		cp.WillProperties = &paho.WillProperties{}
	}
	return cp
}

// subscribe subscribes every route filter with its QoS, in one SUBSCRIBE; a filter
// the broker refuses is named, with its reason, in Health.
func (v *v5Client) subscribe(ctx context.Context, cur *v5Session) {
	c := v.c
	c.mu.Lock()
	c.subErr = nil
	c.mu.Unlock()
	qos := maps.Clone(c.filters)
	if v.tk != nil {
		// QoS 0: the retained presence of every member comes with each SUBSCRIBE; what
		// changed while the connection was down is not queued and replayed, and presence
		// never waits behind messages the host has not acknowledged yet.
		qos[v.tk.filter()] = 0
	}
	if len(qos) == 0 {
		return
	}
	filters := slices.Sorted(maps.Keys(qos))
	sub := &paho.Subscribe{}
	for _, f := range filters {
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: qos[f]})
	}
	ctx, cancel := context.WithTimeout(ctx, c.s.publishTimeout)
	defer cancel()
	sa, err := cur.cli.Subscribe(ctx, sub)
	if sa != nil {
		var refused []string
		for i, code := range sa.Reasons {
			if code >= 0x80 && i < len(filters) {
				refused = append(refused, fmt.Sprintf("%q: %s", filters[i], reasonText(code, "")))
			}
		}
		if len(refused) > 0 {
			c.setSubErr(fmt.Errorf("broker %s refused the subscription to %s", c.s.brokerNames(), strings.Join(refused, "; ")))
			return
		}
	}
	switch {
	case err != nil && ctx.Err() != nil && c.ctx.Err() == nil:
		c.setSubErr(fmt.Errorf("broker %s did not answer SUBSCRIBE within %v", c.s.brokerNames(), c.s.publishTimeout))
	case err != nil && c.ctx.Err() == nil:
		c.setSubErr(fmt.Errorf("subscribe on broker %s: %w", c.s.brokerNames(), err))
	case err == nil:
		c.log.Debug("subscribed", "filters", len(filters))
	}
}

// publishStatus publishes the birth (or, on shutdown, offline) message when
// status_topic is set, waiting at most connect_timeout for its acknowledgement.
func (v *v5Client) publishStatus(cur *v5Session, payload string) {
	s := v.c.s
	if s.statusTopic == "" {
		return
	}
	p := &v5LinkPublisher{v: v, topic: s.statusTopic, qos: s.statusQoS, retain: s.statusRetain}
	ctx, cancel := context.WithTimeout(v.c.ctx, s.connectTimeout)
	if v.c.ctx.Err() != nil { // closing: the instance's context is gone already
		ctx, cancel = context.WithTimeout(context.Background(), s.connectTimeout)
	}
	defer cancel()
	if err := p.publishOn(ctx, cur, []byte(payload)); err != nil {
		v.c.log.Warn("cannot publish status message", "topic", s.statusTopic, "payload", payload, "error", err)
	}
}

// disconnect ends the connection when the instance closes: offline status, then
// DISCONNECT, so the broker does not publish the last will; with takeover_topic it
// does (reason "disconnect with will message"), so another member resumes the
// session and hands the host what the broker kept for it.
func (v *v5Client) disconnect() {
	if v.tk != nil {
		v.tk.stop()
	}
	if cur := v.current(); cur != nil {
		v.publishStatus(cur, v.c.s.statusOffline)
		reason := byte(0)
		if v.tk != nil {
			reason = reasonDisconnectWithWill
		}
		_ = cur.cli.Disconnect(&paho.Disconnect{ReasonCode: reason})
		v.setCurrent(nil)
	}
	_ = v.state.Close() // publishes still waiting for an acknowledgement end
	v.c.rc.MarkDown(errors.New("connector closed"))
}
