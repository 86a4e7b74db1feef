package kafka_test

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/aimdb-dev/aimdb-go/connectors/kafka"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// recorder is a sink that records inbound messages; decide, when set, chooses each
// message's acknowledgement (return hold=true to keep it unacknowledged).
type recorder struct {
	mu     sync.Mutex
	msgs   []run.Message
	held   []string
	decide func(m run.Message) (err error, hold bool)
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) Deliver(m run.Message, ack func(error)) {
	m.Payload = append([]byte(nil), m.Payload...)
	var err error
	hold := false
	if r.decide != nil {
		err, hold = r.decide(m)
	}
	r.mu.Lock()
	if hold {
		r.held = append(r.held, string(m.Payload))
	} else if err == nil {
		r.msgs = append(r.msgs, m)
	}
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	if !hold {
		ack(err)
	}
}

// payloads returns the payloads the sink took, in order.
func (r *recorder) payloads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.msgs))
	for i, m := range r.msgs {
		out[i] = string(m.Payload)
	}
	return out
}

// wait waits until the sink took n messages, failing the test after timeout.
func (r *recorder) wait(t *testing.T, n int, timeout time.Duration) []string {
	t.Helper()
	return r.waitFor(t, fmt.Sprintf("%d messages", n), func(got []string) bool { return len(got) >= n }, timeout)
}

// waitFor waits until ok holds for the payloads the sink took, failing the test after timeout.
func (r *recorder) waitFor(t *testing.T, what string, ok func([]string) bool, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if got := r.payloads(); ok(got) {
			return got
		}
		select {
		case <-r.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("sink took %q in %s, want %s", r.payloads(), timeout, what)
		}
	}
}

// start runs a kafka connector instance in-process and closes it when the test ends.
func start(t testing.TB, name, url string, opts sdk.Config, routes []sdk.Route, sink run.Sink) *run.Instance {
	t.Helper()
	return startLogging(t, name, url, opts, routes, sink, nil)
}

// startLogging is start with the connector logging to log (nil discards).
func startLogging(t testing.TB, name, url string, opts sdk.Config, routes []sdk.Route, sink run.Sink, log hclog.Logger) *run.Instance {
	t.Helper()
	inst, err := run.Start(context.Background(), kafka.NewBuilder(), run.Config{
		Name: name, URL: sdk.MustParseURL(url), Options: opts, Routes: routes, Sink: sink, Logger: log,
	})
	if err != nil {
		t.Fatalf("start connector: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		inst.Close(ctx)
	})
	return inst
}

func closeNow(t testing.TB, inst *run.Instance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := inst.Close(ctx); err != nil {
		t.Fatalf("close connector: %v", err)
	}
}

func publish(t testing.TB, inst *run.Instance, topic string, cfg sdk.Config, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := inst.Publish(ctx, topic, cfg, []byte(payload)); err != nil {
		t.Fatalf("publish %q to %q: %v", payload, topic, err)
	}
}

// readAll reads n records of topic from the beginning with an independent franz-go
// client (no consumer group).
func readAll(t testing.TB, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records from %q", len(out), n, topic)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s/%d: %v", tp, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// produce writes values to topic with an independent franz-go client.
func produce(t testing.TB, addr, topic string, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(v)}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %q: %v", topic, err)
	}
}

// kcat runs the kcat client with args and stdin, bounded by 20 s.
func kcat(t *testing.T, bin, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// heldPayloads returns the payloads the sink holds unacknowledged.
func (r *recorder) heldPayloads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.held)
}

// waitStats polls the connector's counters until ok holds or 5 s pass (they are
// counted just after the sink acknowledged) and returns the last reading.
func waitStats(inst *run.Instance, ok func(kafka.Stats) bool) kafka.Stats {
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := inst.Connector().(*kafka.Connector).Stats()
		if ok(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGroupStable waits until the cluster at addr reports the consumer group stable
// with a member, asking it with a client of its own.
func waitGroupStable(t *testing.T, addr, group string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	var state string
	for deadline := time.Now().Add(20 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		if err == nil && len(resp.Groups) == 1 {
			g := resp.Groups[0]
			if state = g.State; g.State == "Stable" && len(g.Members) > 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer group %q not stable with a member (state %q, error %v)", group, state, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
