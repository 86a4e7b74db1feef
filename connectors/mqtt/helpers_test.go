package mqtt_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt"
	"github.com/aimdb-dev/aimdb-go/internal/syncbuf"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// received is one message the test sink got from the connector.
type received struct {
	RouteID  uint32
	Topic    string
	Payload  string
	Metadata *sdk.Metadata
}

// sink records inbound messages and acknowledges them with answer (nil: accept).
type sink struct {
	mu     sync.Mutex
	answer func(run.Message) error
	ch     chan received
}

func newSink() *sink { return &sink{ch: make(chan received, 100000)} }

func (s *sink) Deliver(m run.Message, ack func(error)) {
	s.mu.Lock()
	answer := s.answer
	s.mu.Unlock()
	var err error
	if answer != nil {
		err = answer(m)
	}
	if err != errHold {
		ack(err) // first, so the connector's counters are up to date when the test sees the message
	}
	if err == nil {
		s.ch <- received{m.RouteID, m.Topic, string(m.Payload), m.Metadata}
	}
}

// errHold makes the sink keep a message without acknowledging it.
var errHold = sdk.Errorf(sdk.KindUnknown, "held by test")

func (s *sink) setAnswer(f func(run.Message) error) {
	s.mu.Lock()
	s.answer = f
	s.mu.Unlock()
}

func (s *sink) next(t *testing.T, timeout time.Duration) received {
	t.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-time.After(timeout):
		t.Fatalf("sink: no inbound message within %v", timeout)
		return received{}
	}
}

func (s *sink) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-s.ch:
		t.Fatalf("sink: unexpected message %+v", m)
	case <-time.After(d):
	}
}

// instance is a connector started in-process for a test.
type instance struct {
	*run.Instance
	conn *mqtt.Connector
	sink *sink
	log  *syncbuf.Buffer
}

// start runs an MQTT connector instance with run.Start and closes it when the test ends.
func start(t *testing.T, name, url string, opts sdk.Config, routes ...sdk.Route) *instance {
	t.Helper()
	return startWith(t, url, run.Config{Name: name, Options: opts, Routes: routes})
}

// startWith is start with links to publish (cfg.Outbound); the URL, sink and logger
// of cfg are filled in.
func startWith(t *testing.T, url string, cfg run.Config) *instance {
	t.Helper()
	name := cfg.Name
	u, err := sdk.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	s := newSink()
	lb := &syncbuf.Buffer{}
	cfg.URL, cfg.Sink = u, s
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: name, Output: lb, Level: hclog.Debug})
	inst, err := run.Start(context.Background(), mqtt.NewBuilder(), cfg)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := inst.Close(ctx); err != nil {
			t.Errorf("close %s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("connector %s log:\n%s", name, lb.String())
		}
	})
	return &instance{Instance: inst, conn: inst.Connector().(*mqtt.Connector), sink: s, log: lb}
}

// waitHealthy polls Health until it is nil, failing after timeout.
func (i *instance) waitHealthy(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := i.Health(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connector not healthy after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (i *instance) publish(t *testing.T, topic string, cfg sdk.Config, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := i.Publish(ctx, topic, cfg, payload); err != nil {
		t.Fatalf("publish %q: %v", topic, err)
	}
}

func route(id uint32, resource string, cfg sdk.Config) sdk.Route {
	return sdk.Route{ID: id, Resource: resource, Config: cfg, Record: resource}
}
