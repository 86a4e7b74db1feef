package mqtt_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt"
	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/internal/testpki"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

var v5 = sdk.Config{"protocol": "5"}

func v5With(kv ...string) sdk.Config {
	c := sdk.Config{"protocol": "5"}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i]] = kv[i+1]
	}
	return c
}

func userProp(p *paho.Publish, key string) string {
	if p.Properties == nil {
		return ""
	}
	return p.Properties.User.Get(key)
}

// A link_to's MQTT 5 options reach a subscriber: user properties (static and
// templates), content type and message expiry; the topic alias the connector uses
// after the first message is resolved by the broker, so every message shows its topic.
func TestV5OutboundPropertiesSeenFromOutside(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{})
	checker := mqtttest.Connect5(t, broker.Addr, "checker")
	checker.Subscribe("plant/#", 1)
	link := sdk.LinkSpec{ID: 1, Direction: sdk.Outbound, Resource: "plant/b/line-4/temperature", Record: "temps", Config: sdk.Config{
		"qos": "1", "content_type": "application/json", "message_expiry": "600s",
		"user_property_site": "plant-b", "user_property_source": "${instance}/${record}", "user_property_at": "${time}",
	}}
	inst := startWith(t, broker.URL(false), run.Config{Name: "edge", Options: v5, Outbound: []sdk.LinkSpec{link}})
	inst.waitHealthy(t, 5*time.Second)

	errs := make([]error, 3)
	inst.PublishBatch(context.Background(), 1, 0, [][]byte{[]byte("1"), []byte("2"), []byte("3")}, errs)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	for i := 1; i <= 3; i++ {
		m := checker.Next(5 * time.Second)
		if m.Topic != link.Resource || string(m.Payload) != strconv.Itoa(i) {
			t.Fatalf("message %d: topic %q payload %q", i, m.Topic, m.Payload)
		}
		p := m.Properties
		if p == nil || p.ContentType != "application/json" || p.MessageExpiry == nil || *p.MessageExpiry == 0 || *p.MessageExpiry > 600 {
			t.Fatalf("message %d: properties %+v", i, p)
		}
		if userProp(m, "site") != "plant-b" || userProp(m, "source") != "edge/temps" {
			t.Fatalf("message %d: user properties %v", i, p.User)
		}
		if at, err := time.Parse(time.RFC3339Nano, userProp(m, "at")); err != nil || time.Since(at) > time.Minute {
			t.Fatalf("message %d: ${time} gave %q (%v)", i, userProp(m, "at"), err)
		}
	}
}

// Inbound MQTT 5 properties reach the host as message metadata; a message without any
// has none.
func TestV5InboundMetadata(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{})
	inst := start(t, "mqtt", broker.URL(false), v5, route(1, "req/#", sdk.Config{"qos": "1"}))
	inst.waitHealthy(t, 5*time.Second)
	outside := mqtttest.Connect5(t, broker.Addr, "outside")
	outside.Publish(&paho.Publish{Topic: "req/a", QoS: 1, Payload: []byte("x"), Properties: &paho.PublishProperties{
		ContentType: "text/plain", ResponseTopic: "resp/a", CorrelationData: []byte{0, 1, 0xff},
		User: paho.UserProperties{{Key: "k", Value: "v1"}, {Key: "k", Value: "v2"}, {Key: "trace", Value: "abc"}},
	}})
	m := inst.sink.next(t, 5*time.Second)
	md := m.Metadata
	if m.RouteID != 1 || m.Payload != "x" || md == nil {
		t.Fatalf("got %+v", m)
	}
	if md.ContentType != "text/plain" || md.ResponseTopic != "resp/a" || string(md.CorrelationData) != "\x00\x01\xff" {
		t.Fatalf("metadata %+v", md)
	}
	if len(md.Properties) != 3 || md.Properties[0] != (sdk.Property{Name: "k", Value: "v1"}) || md.Properties[1].Value != "v2" {
		t.Fatalf("properties %+v", md.Properties)
	}
	if v, ok := md.Get("trace"); !ok || v != "abc" {
		t.Fatalf("Get(trace) = %q, %v", v, ok)
	}
	outside.Publish(&paho.Publish{Topic: "req/b", QoS: 1, Payload: []byte("plain")})
	if m := inst.sink.next(t, 5*time.Second); m.Metadata != nil || m.Payload != "plain" {
		t.Fatalf("message without properties: %+v", m)
	}
}

// Two instances in one share group split a stream between them: every message reaches
// exactly one, through the route its topic matches (wildcards included).
func TestV5SharedSubscriptionSplitsTheStream(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Quiet: true})
	routes := []sdk.Route{
		route(1, "shared/+/temp", sdk.Config{"qos": "1", "share_group": "workers"}),
		route(2, "shared/alarm/#", sdk.Config{"qos": "1", "share_group": "workers"}),
	}
	a := start(t, "a", broker.URL(false), v5, routes...)
	b := start(t, "b", broker.URL(false), v5, routes...)
	a.waitHealthy(t, 5*time.Second)
	b.waitHealthy(t, 5*time.Second)
	outside := mqtttest.Connect5(t, broker.Addr, "outside")
	const n = 400
	for i := range n {
		topic := fmt.Sprintf("shared/s%d/temp", i%4)
		if i%5 == 0 {
			topic = "shared/alarm/x"
		}
		outside.Publish(&paho.Publish{Topic: topic, QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
	seen := make(map[string]int)
	per := map[string]int{}
	deadline := time.After(10 * time.Second)
	for len(seen) < n {
		var m received
		var who string
		select {
		case m = <-a.sink.ch:
			who = "a"
		case m = <-b.sink.ch:
			who = "b"
		case <-deadline:
			t.Fatalf("arrived %d of %d (a %d, b %d)", len(seen), n, per["a"], per["b"])
		}
		per[who]++
		seen[m.Payload]++
		want := uint32(1)
		if strings.HasPrefix(m.Topic, "shared/alarm/") {
			want = 2
		}
		if m.RouteID != want {
			t.Fatalf("%q went to route %d, want %d", m.Topic, m.RouteID, want)
		}
	}
	a.sink.quiet(t, 300*time.Millisecond)
	b.sink.quiet(t, 0)
	for p, c := range seen {
		if c != 1 {
			t.Fatalf("message %s arrived %d times", p, c)
		}
	}
	if per["a"] == 0 || per["b"] == 0 {
		t.Fatalf("the broker did not share: a %d, b %d", per["a"], per["b"])
	}
	t.Logf("%d messages: a took %d, b took %d, 0 lost, 0 duplicated", n, per["a"], per["b"])
}

// A publish the broker refuses as not authorized fails for good (the host
// dead-letters it); one it accepts on the same connection goes through.
func TestV5NotAuthorizedIsPermanent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	acl := filepath.Join(dir, "acl")
	if err := os.WriteFile(acl, []byte("topic readwrite allowed/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Extra: "acl_file " + acl + "\n"})
	inst := start(t, "mqtt", broker.URL(false), v5)
	inst.waitHealthy(t, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := inst.Publish(ctx, "denied/x", sdk.Config{"qos": "1"}, []byte("v"))
	if err == nil || sdk.Retryable(err) || !strings.Contains(err.Error(), "not authorized (0x87)") {
		t.Fatalf("publish to a denied topic: %v (kind %v), want a permanent not-authorized error", err, sdk.KindOf(err))
	}
	inst.publish(t, "allowed/x", sdk.Config{"qos": "1"}, []byte("v"))
}

// receive_maximum reaches the broker: with the host holding every message, the broker
// sends no more than receive_maximum unacknowledged ones; the rest wait at the broker.
func TestV5ReceiveMaximumHoldsBackTheBroker(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{})
	inst := start(t, "mqtt", broker.URL(false), v5With("receive_maximum", "5"), route(1, "rm/#", sdk.Config{"qos": "1"}))
	inst.sink.setAnswer(func(run.Message) error { return errHold })
	inst.waitHealthy(t, 5*time.Second)
	outside := mqtttest.Connect5(t, broker.Addr, "outside")
	for i := range 20 {
		outside.Publish(&paho.Publish{Topic: "rm/a", QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
	time.Sleep(500 * time.Millisecond) // room for the broker to send more than it may
	if got := inst.conn.Stats().Received; got != 5 {
		t.Fatalf("received %d messages while none was acknowledged, want receive_maximum = 5", got)
	}
}

// A session with session_expiry outlives the connector: messages published while it
// is gone arrive when it comes back with the same client id.
func TestV5SessionExpiryKeepsMessages(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{})
	opts := v5With("client_id", "v5-session", "clean_session", "false", "session_expiry", "60s")
	u := sdk.MustParseURL(broker.URL(false))
	first, err := run.Start(context.Background(), mqtt.NewBuilder(), run.Config{Name: "first", URL: u, Options: opts, Routes: []sdk.Route{route(1, "se/#", sdk.Config{"qos": "1"})}})
	if err != nil {
		t.Fatal(err)
	}
	(&instance{Instance: first}).waitHealthy(t, 5*time.Second)
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	outside := mqtttest.Connect5(t, broker.Addr, "outside")
	for i := range 3 {
		outside.Publish(&paho.Publish{Topic: "se/a", QoS: 1, Payload: []byte(strconv.Itoa(i))})
	}
	second := start(t, "second", broker.URL(false), opts, route(1, "se/#", sdk.Config{"qos": "1"}))
	for i := range 3 {
		if m := second.sink.next(t, 5*time.Second); m.Payload != strconv.Itoa(i) {
			t.Fatalf("message %d: got %+v", i, m)
		}
	}
}

// The embedded broker speaks MQTT 5: an instance with protocol = 5 serves its own
// broker and an MQTT 5 client's properties arrive.
func TestV5EmbeddedBroker(t *testing.T) {
	t.Parallel()
	inst := start(t, "demo", "mqtt://127.0.0.1", v5With("embedded_broker", "127.0.0.1:0"), route(1, "demo/in/#", sdk.Config{"qos": "1", "share_group": "g"}))
	inst.waitHealthy(t, 5*time.Second)
	outside := mqtttest.Connect5(t, inst.conn.BrokerAddrs()[0], "outside")
	outside.Subscribe("demo/out", 1)
	outside.Publish(&paho.Publish{Topic: "demo/in/a", QoS: 1, Payload: []byte("in"), Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "k", Value: "v"}}}})
	m := inst.sink.next(t, 5*time.Second)
	if v, _ := m.Metadata.Get("k"); m.RouteID != 1 || m.Payload != "in" || v != "v" {
		t.Fatalf("inbound %+v", m)
	}
	inst.publish(t, "demo/out", v5With("qos", "1", "user_property_from", "aimdb"), []byte("out"))
	if m := outside.Next(5 * time.Second); string(m.Payload) != "out" || userProp(m, "from") != "aimdb" {
		t.Fatalf("outbound %q %+v", m.Payload, m.Properties)
	}
}

// Every MQTT 5 option is refused, naming it, where it does not apply or holds a
// mistake.
func TestV5ConfigErrors(t *testing.T) {
	u := sdk.MustParseURL("mqtt://h")
	shared := sdk.LinkSpec{Direction: sdk.Inbound, Resource: "a/#", Config: sdk.Config{"share_group": "g"}}
	for _, tc := range []struct {
		opts sdk.Config
		link sdk.LinkSpec
		want string
	}{
		{sdk.Config{"protocol": "4"}, sdk.LinkSpec{}, `option "protocol"`},
		{sdk.Config{"session_expiry": "1m"}, sdk.LinkSpec{}, `option "session_expiry": needs protocol = "5"`},
		{v5With("session_expiry", "1.5s"), sdk.LinkSpec{}, `option "session_expiry": want whole seconds`},
		{v5With("receive_maximum", "0"), sdk.LinkSpec{}, `option "receive_maximum"`},
		{nil, sdk.LinkSpec{Direction: sdk.Outbound, Resource: "a", Config: sdk.Config{"user_property_x": "y"}}, `option "user_property_x": needs protocol = "5"`},
		{v5, sdk.LinkSpec{Direction: sdk.Outbound, Resource: "a", Config: sdk.Config{"content_type": "${nope}"}}, `option "content_type": unknown field ${nope}`},
		{v5, sdk.LinkSpec{Direction: sdk.Outbound, Resource: "a", Config: sdk.Config{"user_property_": "y"}}, `option "user_property_": name the property`},
		{v5, sdk.LinkSpec{Direction: sdk.Outbound, Resource: "a", Config: sdk.Config{"message_expiry": "-1s"}}, `option "message_expiry"`},
		{nil, sdk.LinkSpec{Direction: sdk.Inbound, Resource: "a/#", Config: sdk.Config{"share_group": "g"}}, `option "share_group": needs protocol = "5"`},
		{v5, sdk.LinkSpec{Direction: sdk.Inbound, Resource: "a/#", Config: sdk.Config{"share_group": "a/b"}}, `option "share_group": want a name without /`},
		{v5, sdk.LinkSpec{Direction: sdk.Inbound, Resource: "$share/g/a/#"}, `set option "share_group"`},
		{sdk.Config{"takeover_topic": "m"}, shared, `option "takeover_topic": needs protocol = "5"`},
		{v5With("takeover_topic", "m"), shared, `option "takeover_topic": needs clean_session = false`},
		{v5With("takeover_topic", "m", "clean_session", "false"), shared, `option "takeover_topic": needs a client_id`},
		{v5With("takeover_topic", "m", "clean_session", "false", "client_id", "a/b"), shared, `client_id "a/b" names the member in topic m/<client_id>`},
		{v5With("takeover_topic", "m", "clean_session", "false", "client_id", "a", "session_expiry", "0s"), shared, `option "takeover_topic": needs a session_expiry`},
		{v5With("takeover_topic", "m", "clean_session", "false", "client_id", "a", "status_topic", "s"), shared, `option "takeover_topic": cannot go with status_topic`},
		{v5With("takeover_topic", "m/+", "clean_session", "false", "client_id", "a"), shared, `option "takeover_topic"`},
		{v5With("takeover_topic", "m", "clean_session", "false", "client_id", "a"), sdk.LinkSpec{Direction: sdk.Inbound, Resource: "a/#"}, `option "takeover_topic": link_from pattern "a/#" has no share_group`},
		{v5With("takeover_topic", "m", "clean_session", "false", "client_id", "a"), sdk.LinkSpec{}, `option "takeover_topic": needs a link_from with a share_group`},
	} {
		var links []sdk.LinkSpec
		if tc.link.Resource != "" {
			links = append(links, tc.link)
		}
		err := validator().ValidateConfig(u, tc.opts, links)
		if err == nil || !strings.Contains(err.Error(), tc.want) || sdk.KindOf(err) != sdk.KindInvalidConfig {
			t.Errorf("%v %+v: got %v, want invalid config containing %q", tc.opts, tc.link, err, tc.want)
		}
	}
	// With takeover_topic every link_from is in a share group.
	err := validator().ValidateConfig(u, v5With("takeover_topic", "m", "clean_session", "false", "client_id", "a"), []sdk.LinkSpec{
		shared, {Direction: sdk.Inbound, Resource: "b/#"},
	})
	if err == nil || !strings.Contains(err.Error(), `link_from pattern "b/#" has no share_group`) {
		t.Errorf("takeover with a link_from outside a share group: %v", err)
	}
	// Overlapping patterns must agree on their share group.
	err = validator().ValidateConfig(u, v5, []sdk.LinkSpec{
		{Direction: sdk.Inbound, Resource: "a/#", Config: sdk.Config{"share_group": "g"}},
		{Direction: sdk.Inbound, Resource: "a/b"},
	})
	if err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Errorf("overlapping patterns in different groups: %v", err)
	}
}

// The broker's CONNACK limits are honoured before sending: a QoS above its Maximum
// QoS and a retained message where it keeps none fail at once, for good.
func TestV5BrokerLimits(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Extra: "max_qos 1\nretain_available false\n"})
	inst := start(t, "mqtt", broker.URL(false), v5)
	inst.waitHealthy(t, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := inst.Publish(ctx, "lim/a", sdk.Config{"qos": "2"}, []byte("v")); sdk.KindOf(err) != sdk.KindUnsupportedQoS {
		t.Errorf("QoS 2 to a broker of Maximum QoS 1: %v, want unsupported QoS", err)
	}
	if err := inst.Publish(ctx, "lim/a", sdk.Config{"qos": "1", "retain": "true"}, []byte("v")); sdk.KindOf(err) != sdk.KindInvalidConfig {
		t.Errorf("retained message to a broker without retain: %v, want invalid config", err)
	}
	inst.publish(t, "lim/a", sdk.Config{"qos": "1"}, []byte("v"))
}

// The options both versions share work with protocol = 5 too: TLS with a CA file,
// credentials (a wrong password is named in Health, the password is not), and the
// birth and offline status messages.
func TestV5ExistingOptions(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{TLS: mqtttest.ServerTLS(pki), Users: map[string]string{"aimdb": "s3cret"}})
	url := broker.URL(true)
	checker := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{TLS: clientTLS(t, pki.CA, "", ""), Username: "aimdb", Password: "s3cret"})
	checker.Subscribe("st/#", 1)

	good := start(t, "good", url, v5With("tls_ca_file", pki.CA, "username", "aimdb", "password", "s3cret", "status_topic", "st/good"), route(1, "tls/in", nil))
	good.waitHealthy(t, 5*time.Second)
	if m := checker.Next(5 * time.Second); m.Topic != "st/good" || string(m.Payload) != "online" {
		t.Fatalf("birth message: %+v %q", m, m.Payload)
	}
	good.publish(t, "st/data", sdk.Config{"qos": "1"}, []byte("encrypted"))
	if m := checker.Next(5 * time.Second); string(m.Payload) != "encrypted" {
		t.Fatalf("got %q", m.Payload)
	}
	if err := good.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := checker.Next(5 * time.Second); m.Topic != "st/good" || string(m.Payload) != "offline" {
		t.Fatalf("offline message: %+v %q", m, m.Payload)
	}

	bad := start(t, "bad", url, v5With("tls_ca_file", pki.CA, "username", "aimdb", "password", "wrong-pw", "reconnect_max", "300ms"))
	err := bad.waitUnhealthy(t, 5*time.Second, broker.Addr, "refused the connection")
	if strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("health shows the password: %v", err)
	}
}

// A resumed session whose in-flight window is full gets everything: the broker sends
// the messages it had in flight again right after CONNACK, and their acknowledgements
// free the window for what it queued behind them (paho.golang forgets to acknowledge
// messages that arrive that early; the connector acknowledges them itself). Resumed
// ten times, since how early they arrive depends on scheduling.
func TestV5ResumedSessionGetsWhatWasQueued(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Quiet: true})
	opts := v5With("client_id", "v5-resume", "clean_session", "false", "session_expiry", "60s", "receive_maximum", "2")
	outside := mqtttest.Connect5(t, broker.Addr, "outside")
	u := sdk.MustParseURL(broker.URL(false))
	for round := range 10 {
		s := newSink()
		s.setAnswer(func(run.Message) error { return errHold })
		held, err := run.Start(context.Background(), mqtt.NewBuilder(), run.Config{Name: "held", URL: u, Options: opts, Sink: s, Routes: []sdk.Route{route(1, "rs/#", sdk.Config{"qos": "1"})}})
		if err != nil {
			t.Fatal(err)
		}
		(&instance{Instance: held}).waitHealthy(t, 5*time.Second)
		for i := range 6 {
			outside.Publish(&paho.Publish{Topic: "rs/a", QoS: 1, Payload: []byte(fmt.Sprintf("%d-%d", round, i))})
		}
		deadline := time.Now().Add(5 * time.Second)
		for held.Connector().(*mqtt.Connector).Stats().Received < 2 {
			if time.Now().After(deadline) {
				t.Fatal("the held instance did not get its 2 messages")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := held.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		resumed := start(t, fmt.Sprintf("resumed-%d", round), broker.URL(false), opts, route(1, "rs/#", sdk.Config{"qos": "1"}))
		got := map[string]bool{}
		deadline = time.Now().Add(5 * time.Second)
		for len(got) < 6 && time.Now().Before(deadline) {
			select {
			case m := <-resumed.sink.ch:
				got[m.Payload] = true
			case <-time.After(100 * time.Millisecond):
			}
		}
		if len(got) < 6 {
			t.Fatalf("round %d: the resumed session got %d of 6 messages: %v", round, len(got), got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := resumed.Close(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
}
