package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/sdk"
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

	time.Sleep(3 * time.Second)
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Port: port})
	inst.waitHealthy(t, 5*time.Second)

	outside := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{})
	outside.Subscribe("late/out", 1)
	outside.Publish("late/in", 1, false, []byte("hello"))
	if m := inst.sink.next(t, 5*time.Second); m != (received{1, "late/in", "hello"}) {
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

// The host's retry loop, as the wiring layer runs it: a value stays in the record
// buffer until Publish succeeds.
func publishUntilDone(ctx context.Context, t *testing.T, inst *instance, topic string, payload []byte) (failures int) {
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := inst.Publish(pctx, topic, sdk.Config{"qos": "1"}, payload)
		cancel()
		if err == nil {
			return failures
		}
		failures++
		if k := sdk.KindOf(err); k != sdk.KindConnectionFailed && k != sdk.KindTimeout {
			t.Errorf("publish %s: unexpected error kind %v: %v", payload, k, err)
			return failures
		}
		select {
		case <-ctx.Done():
			t.Errorf("publish %s: gave up: %v", payload, err)
			return failures
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestQoS1OutboundAcrossBrokerRestartLosesNothing(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Persistence: true})
	checker := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{ID: "restart-checker", Persistent: true})
	checker.Subscribe("restart/v", 1)
	inst := start(t, "mqtt", broker.URL(false), fastReconnect)
	inst.waitHealthy(t, 5*time.Second)

	const n = 300
	// The record: values are produced at a steady pace whatever the broker does and
	// wait in the buffer; the link publishes them in order, retrying each until done.
	buffer := make(chan int, n)
	var produced sync.WaitGroup
	produced.Add(1)
	go func() {
		defer produced.Done()
		for i := range n {
			buffer <- i
			time.Sleep(4 * time.Millisecond)
		}
		close(buffer)
	}()
	failures := make([]int, n)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range buffer {
			failures[i] = publishUntilDone(ctx, t, inst, "restart/v", []byte(strconv.Itoa(i)))
		}
	}()

	time.Sleep(300 * time.Millisecond)
	broker.Stop()
	time.Sleep(time.Second) // values produced now wait in the buffer
	healthErr := inst.Health(context.Background())
	during := inst.conn.Stats()
	waiting := len(buffer)
	broker.Start()
	wg.Wait()
	produced.Wait()

	if waiting < 50 {
		t.Errorf("only %d values were waiting during the outage: the test did not exercise it", waiting)
	}
	if sdk.KindOf(healthErr) != sdk.KindConnectionFailed {
		t.Errorf("health during the outage = %v, want connection failed", healthErr)
	}
	if during.Connected || during.ConnectionLosses != 1 || during.PublishNotConnected+during.PublishFailed == 0 {
		t.Errorf("stats during the outage = %+v, want disconnected, one loss, refused publishes", during)
	}

	seen := make([]int, n)
	redelivered := make([]bool, n)
	for missing := n; missing > 0; {
		select {
		case m := <-checker.Messages():
			i, err := strconv.Atoi(string(m.Payload))
			if err != nil || i < 0 || i >= n {
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
	dups, retried := 0, 0
	for i := range n {
		if failures[i] > 0 {
			retried++
		}
		if seen[i] > 1 {
			dups++
			// QoS 1 allows a second copy only of a value whose publish was retried
			// or that the broker redelivered to the checker.
			if failures[i] == 0 && !redelivered[i] {
				t.Errorf("value %d arrived %d times but was published once and never redelivered", i, seen[i])
			}
		}
	}
	after := inst.conn.Stats()
	if !after.Connected || after.Connects != 2 || after.Published < n {
		t.Errorf("stats after = %+v, want reconnected with %d published", after, n)
	}
	if retried == 0 {
		t.Errorf("no publish failed during the outage: the test did not exercise the restart")
	}
	t.Logf("%d values, %d waited in the buffer, %d retried, %d arrived twice; stats %+v", n, waiting, retried, dups, after)
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
	first.sink.setAnswer(func(sdk.Message) error { arrived <- struct{}{}; return errHold })
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
	if m := second.sink.next(t, 5*time.Second); m != (received{7, "held/a", "m1"}) {
		t.Fatalf("redelivery: %+v", m)
	}
	// The host rejects m2 (bad payload): it is acknowledged anyway and counted.
	second.sink.setAnswer(func(m sdk.Message) error {
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
	inst.sink.setAnswer(func(sdk.Message) error {
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
	inst.sink.setAnswer(func(sdk.Message) error { held.Add(1); return errHold })
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
}
