package modbus_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/modbus"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// inbox records the values an instance's routes receive.
type inbox struct {
	mu     sync.Mutex
	got    map[string][]string // topic -> payloads, in order
	news   chan struct{}
	answer func(m run.Message, ack func(error)) // nil: take every value at once
}

func newInbox() *inbox { return &inbox{got: map[string][]string{}, news: make(chan struct{}, 1)} }

func (b *inbox) deliver(m run.Message, ack func(error)) {
	b.mu.Lock()
	b.got[m.Topic] = append(b.got[m.Topic], string(m.Payload))
	answer := b.answer
	b.mu.Unlock()
	select {
	case b.news <- struct{}{}:
	default:
	}
	if answer != nil {
		answer(m, ack)
		return
	}
	ack(nil)
}

// values returns what topic received so far.
func (b *inbox) values(topic string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got[topic]...)
}

// waitFor waits until topic's latest value is want.
func (b *inbox) waitFor(t *testing.T, topic, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if v := b.values(topic); len(v) > 0 && v[len(v)-1] == want {
			return
		}
		select {
		case <-b.news:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: got %q, want the latest to be %s", topic, b.values(topic), want)
		}
	}
}

// waitAny waits until topic received a value.
func (b *inbox) waitAny(t *testing.T, topic string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for len(b.values(topic)) == 0 {
		select {
		case <-b.news:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: no value within 10s", topic)
		}
	}
}

// eventually waits up to 10 s for cond: the server reports what it saw
// asynchronously, after it answered.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// start runs a Modbus instance in-process with link_from routes (resource -> options)
// and link_to links; it closes when the test ends.
func start(t testing.TB, url string, opts sdk.Config, routes map[string]sdk.Config, outbound []sdk.LinkSpec) (*run.Instance, *inbox) {
	t.Helper()
	return startWith(t, newInbox(), url, opts, routes, outbound)
}

// startWith is start with the inbox the routes deliver to.
func startWith(t testing.TB, b *inbox, url string, opts sdk.Config, routes map[string]sdk.Config, outbound []sdk.LinkSpec) (*run.Instance, *inbox) {
	t.Helper()
	u, err := sdk.ParseConnectorURL(url)
	if err != nil {
		t.Fatal(err)
	}
	var rs []sdk.Route
	id := uint32(1000)
	for res, cfg := range routes {
		id++
		rs = append(rs, sdk.Route{ID: id, Resource: res, Config: cfg, Record: "r" + res})
	}
	for i := range outbound {
		outbound[i].ID = uint32(i + 1)
		outbound[i].Direction = sdk.Outbound
	}
	inst, err := run.Start(context.Background(), modbus.NewBuilder(), run.Config{
		Name: "plc", URL: u, Options: opts, Routes: rs, Outbound: outbound, Sink: run.SinkFunc(b.deliver),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := inst.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	waitHealthy(t, inst)
	return inst, b
}

func waitHealthy(t testing.TB, inst *run.Instance) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := inst.Health(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not healthy within 10s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// epoch numbers the batches, each one newer than the last, as the host does after a
// retryable failure.
var epoch atomic.Uint32

// publish publishes one value on link id and returns its outcome.
func publish(inst *run.Instance, id uint32, payload string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make([]error, 1)
	inst.PublishBatch(ctx, id, epoch.Add(1), [][]byte{[]byte(payload)}, errs)
	return errs[0]
}

// metric returns an instance's metric by name.
func metric(inst *run.Instance, name string) float64 {
	for _, m := range inst.Metrics() {
		if m.Name == name {
			return m.Value
		}
	}
	return -1
}
