package mqtt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt"
	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

var fastReconnect = sdk.Config{"reconnect_min": "50ms", "reconnect_max": "300ms"}

func TestBrokerAbsentAtStartConnectsWhenItAppears(t *testing.T) {
	t.Parallel()
	port := mqtttest.FreePort(t)
	url := fmt.Sprintf("mqtt://127.0.0.1:%d", port)
	inst := start(t, "mqtt", url, fastReconnect, route(1, "late/#", nil))

	err := inst.Publish(context.Background(), "late/out", nil, []byte("too early"))
	if sdk.KindOf(err) != sdk.KindConnectionFailed || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Fatalf("publish before the broker exists: %v, want connection failed naming the broker", err)
	}
	if err := inst.Health(context.Background()); sdk.KindOf(err) != sdk.KindConnectionFailed {
		t.Fatalf("health before the broker exists: %v", err)
	}

	for deadline := time.Now().Add(10 * time.Second); inst.conn.Stats().ConnectFailures < 3; { // retried in the background
		if time.Now().After(deadline) {
			t.Fatalf("%d connection attempts failed in 10 s, want the session to keep retrying", inst.conn.Stats().ConnectFailures)
		}
		time.Sleep(10 * time.Millisecond)
	}
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Port: port})
	inst.waitHealthy(t, 5*time.Second)

	outside := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{})
	outside.Subscribe("late/out", 1)
	outside.Publish("late/in", 1, false, []byte("hello"))
	if m := inst.sink.next(t, 5*time.Second); m != (received{1, "late/in", "hello", nil}) {
		t.Fatalf("inbound after late start: %+v", m)
	}
	inst.publish(t, "late/out", nil, []byte("now"))
	if m := outside.Next(5 * time.Second); string(m.Payload) != "now" {
		t.Fatalf("outbound after late start: %q", m.Payload)
	}
	if st := inst.conn.Stats(); st.ConnectFailures < 3 || st.Connects != 1 || st.PublishNotConnected != 1 {
		t.Fatalf("stats = %+v, want several failed attempts, one connect, one refused publish", st)
	}
}

// A QoS 1 link_to across a broker restart, through the host's own connector layer
// (the MQTT connector linked in-process): values produced during the outage wait in
// the record, the link retries them in order, and every one arrives; a second copy is
// only of a value the link sent again or the broker redelivered.
func TestQoS1OutboundAcrossBrokerRestartLosesNothing(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Persistence: true})
	checker := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{ID: "restart-checker", Persistent: true})
	checker.Subscribe("restart/v", 1)
	opts := sdk.Config{"retry_min": "20ms", "retry_max": "200ms"}
	for k, v := range fastReconnect {
		opts[k] = v
	}
	b := host.NewBuilder(connect.WithConnector(mqtt.NewBuilder()),
		connect.WithInstance(connect.Instance{Name: "mqtt", URL: broker.URL(false), Options: opts}))
	host.Configure(b, "v", func(r *host.Registrar[int]) {
		r.SPMCRing(1024)
		r.LinkTo("mqtt://restart/v").WithOption("qos", "1")
	})
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- db.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	<-db.Started()
	svc := connect.Of(db)
	for deadline := time.Now().Add(5 * time.Second); svc.Connectors()[0].State != "connected"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("connector not connected")
		}
	}

	const n = 300
	prod, _ := host.ProducerOf[int](db, "v")
	produced := make(chan struct{})
	go func() { // values come at a steady pace whatever the broker does
		defer close(produced)
		for i := range n {
			if err := prod.Produce(i); err != nil {
				t.Errorf("produce %d: %v", i, err)
				return
			}
			time.Sleep(4 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	broker.Stop()
	var during connect.LinkStatus // values produced now wait in the record
	for deadline := time.Now().Add(10 * time.Second); during.State != "retrying" && during.State != "blocked"; {
		if time.Now().After(deadline) {
			break // reported below
		}
		time.Sleep(10 * time.Millisecond)
		during = svc.Links()[0]
	}
	broker.Start()
	<-produced

	if during.State != "retrying" && during.State != "blocked" || during.LastError == nil || during.LastError.Kind != "connection failed" {
		t.Errorf("link during the outage: %+v", during)
	}
	seen := make([]int, n)
	redelivered := make([]bool, n)
	for missing := n; missing > 0; {
		select {
		case m := <-checker.Messages():
			var i int
			if err := json.Unmarshal(m.Payload, &i); err != nil || i < 0 || i >= n {
				t.Fatalf("unexpected payload %q", m.Payload)
			}
			if seen[i] == 0 {
				missing--
			}
			seen[i]++
			redelivered[i] = redelivered[i] || m.Duplicate
		case <-time.After(15 * time.Second):
			var lost []int
			for i, c := range seen {
				if c == 0 {
					lost = append(lost, i)
				}
			}
			t.Fatalf("%d values never arrived: %v", len(lost), lost)
		}
	}
	checker.Quiet(300 * time.Millisecond) // let late duplicates show up before counting
	dups := 0
	for i := range n {
		if seen[i] > 1 {
			dups++
		}
	}
	after := svc.Links()[0]
	if after.Stats.Delivered < n || after.Stats.Retried == 0 {
		t.Errorf("link after the outage: %+v, want %d delivered and some retried", after.Stats, n)
	}
	// QoS 1 allows a second copy only of a value the link sent again or the broker
	// redelivered: at most as many duplicates as values retried.
	if uint64(dups) > after.Stats.Retried {
		t.Errorf("%d values arrived twice but only %d were sent again", dups, after.Stats.Retried)
	}
	t.Logf("sent %d, arrived %d distinct, lost 0, duplicated %d; link %+v", n, n, dups, after.Stats)
}

func TestInboundAckedOnlyAfterHostTookIt(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{})
	outside := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{})
	opts := sdk.Config{"client_id": "ack-test", "clean_session": "false"}
	r := route(7, "held/#", sdk.Config{"qos": "1"})

	// First instance: the host holds the value and never acknowledges it.
	first := start(t, "first", broker.URL(false), opts, r)
	first.waitHealthy(t, 5*time.Second)
	arrived := make(chan struct{}, 1)
	first.sink.setAnswer(func(run.Message) error { arrived <- struct{}{}; return errHold })
	outside.Publish("held/a", 1, false, []byte("m1"))
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("first instance never got m1")
	}
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Same session again: the broker redelivers m1, which was never acknowledged.
	second := start(t, "second", broker.URL(false), opts, r)
	if m := second.sink.next(t, 5*time.Second); m != (received{7, "held/a", "m1", nil}) {
		t.Fatalf("redelivery: %+v", m)
	}
	// The host rejects m2 (bad payload): it is acknowledged anyway and counted.
	second.sink.setAnswer(func(m run.Message) error {
		if string(m.Payload) == "m2" {
			return sdk.Errorf(sdk.KindRejected, "record %q: cannot decode %q", "held", m.Payload)
		}
		return nil
	})
	outside.Publish("held/b", 1, false, []byte("m2"))
	outside.Publish("held/c", 1, false, []byte("m3"))
	if m := second.sink.next(t, 5*time.Second); m.Payload != "m3" {
		t.Fatalf("after the rejected m2: %+v", m)
	}
	if st := second.conn.Stats(); st.Rejected != 1 || st.Delivered != 2 {
		t.Fatalf("stats = %+v, want 1 rejected and 2 delivered", st)
	}
	if !strings.Contains(second.log.String(), "host refused an inbound MQTT message for good") {
		t.Errorf("rejection was not logged:\n%s", second.log.String())
	}
	if err := second.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Third time: nothing is redelivered, so m1, m2 and m3 were all acknowledged.
	third := start(t, "third", broker.URL(false), opts, r)
	third.waitHealthy(t, 5*time.Second)
	third.sink.quiet(t, 500*time.Millisecond)
}

func TestInboundRetriedWhileHostIsBusy(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{})
	inst := start(t, "mqtt", broker.URL(false), nil, route(1, "busy/x", nil))
	inst.waitHealthy(t, 5*time.Second)
	var mu sync.Mutex
	refusals := 0
	inst.sink.setAnswer(func(run.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if refusals < 2 {
			refusals++
			return sdk.Errorf(sdk.KindBufferFull, "record %q is full", "busy")
		}
		return nil
	})
	outside := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{})
	outside.Publish("busy/x", 1, false, []byte("v"))
	if m := inst.sink.next(t, 5*time.Second); m.Payload != "v" {
		t.Fatalf("got %+v", m)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st := inst.conn.Stats(); st.Retries != 2 || st.Delivered != 1; st = inst.conn.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v, want 2 retries then delivered", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBirthWillAndResubscribeAfterNetworkCut(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{})
	proxy := mqtttest.NewProxy(t, broker.Addr)
	watcher := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{})
	watcher.Subscribe("status/edge", 1)
	opts := sdk.Config{"status_topic": "status/edge", "keepalive": "2s",
		"reconnect_min": "50ms", "reconnect_max": "300ms"}
	inst := start(t, "edge", "mqtt://"+proxy.Addr, opts, route(1, "cmd/x", nil))

	expect := func(want string) {
		t.Helper()
		if m := watcher.Next(5 * time.Second); string(m.Payload) != want {
			t.Fatalf("status: got %q, want %q", m.Payload, want)
		}
	}
	expect("online")
	inst.waitHealthy(t, 5*time.Second)

	proxy.Cut() // no DISCONNECT: the broker publishes the will
	expect("offline")
	expect("online") // reconnected through the proxy
	inst.waitHealthy(t, 5*time.Second)

	outside := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{})
	outside.Publish("cmd/x", 1, false, []byte("after-cut"))
	if m := inst.sink.next(t, 5*time.Second); m.Payload != "after-cut" {
		t.Fatalf("after reconnect (re-subscribed): %+v", m)
	}
	if st := inst.conn.Stats(); st.ConnectionLosses != 1 || st.Connects != 2 {
		t.Fatalf("stats = %+v", st)
	}

	if err := inst.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect("offline") // clean shutdown says so itself
	late := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{})
	late.Subscribe("status/edge", 1)
	if m := late.Next(5 * time.Second); !m.Retained || string(m.Payload) != "offline" {
		t.Fatalf("retained status: %+v %q", m, m.Payload)
	}
	if err := inst.Publish(context.Background(), "x", nil, nil); !errors.Is(err, sdk.ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
}

// TestPublishWhileInboundIsHeld: with more inbound QoS 1 messages held by the host than
// max_inflight, a publish on the same connection still gets its PUBACK. A bridge whose
// record is full holds its inbound messages until its outbound link delivers; if
// holding them stopped the client from reading its own acknowledgements, neither side
// could ever move again.
func TestPublishWhileInboundIsHeld(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{})
	inst := start(t, "mqtt", broker.URL(false), sdk.Config{"max_inflight": "4", "publish_timeout": "5s"}, route(1, "held/x", sdk.Config{"qos": "1"}))
	inst.waitHealthy(t, 5*time.Second)
	var held atomic.Int64
	inst.sink.setAnswer(func(run.Message) error { held.Add(1); return errHold })
	outside := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{})
	for i := range 10 {
		outside.Publish("held/x", 1, false, []byte(strconv.Itoa(i)))
	}
	deadline := time.Now().Add(5 * time.Second)
	for held.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the host got %d messages, want max_inflight (4)", held.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	inst.publish(t, "out/x", sdk.Config{"qos": "1"}, []byte("through"))
	if n := held.Load(); n != 4 {
		t.Errorf("the host got %d messages, want max_inflight (4) at once", n)
	}
	// Closing leaves the 6 messages still waiting in the connector unacknowledged:
	// counted and logged (the broker sends them again to a persistent session).
	for deadline := time.Now().Add(5 * time.Second); inst.conn.Stats().Received < 10; {
		if time.Now().After(deadline) {
			t.Fatalf("the connector received %d of the 10 messages", inst.conn.Stats().Received)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := inst.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := inst.conn.Stats().Unacknowledged; n != 6 {
		t.Errorf("Unacknowledged = %d after closing with 6 messages waiting, want 6", n)
	}
	if !strings.Contains(inst.log.String(), "left unacknowledged") {
		t.Errorf("no log line about the messages left unacknowledged:\n%s", inst.log.String())
	}
}
