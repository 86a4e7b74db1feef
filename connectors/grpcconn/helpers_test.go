package grpcconn_test

import (
	"context"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn"
	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn/grpctest"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// method is the link resource of a Telemetry method.
func method(name string) string { return grpctest.Service + "/" + name }

// protoDir is the folder of the test service's .proto file.
func protoDir(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "grpctest", "testpb")
}

// instance is a connector instance started in-process with run.Start.
type instance struct {
	*run.Instance
	in    chan run.Message
	epoch atomic.Uint32
}

// links are the links an instance is started with.
type links struct {
	out []sdk.LinkSpec
	in  []sdk.Route
}

// to returns a link_to of resource with options kv (name, value, ...).
func to(id uint32, resource string, kv ...string) sdk.LinkSpec {
	return sdk.LinkSpec{ID: id, Direction: sdk.Outbound, Resource: resource, Config: config(kv...), Record: "r"}
}

// from returns a link_from of resource with options kv.
func from(id uint32, resource string, kv ...string) sdk.Route {
	return sdk.Route{ID: id, Resource: resource, Config: config(kv...), Record: "r"}
}

func config(kv ...string) sdk.Config {
	c := sdk.Config{}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i]] = kv[i+1]
	}
	return c
}

// start starts an instance of url with options and links; the test's cleanup closes it.
func start(t testing.TB, url string, options sdk.Config, l links) *instance {
	t.Helper()
	return startWith(t, url, options, l, nil)
}

// startWith is start with a sink of the test's own (nil: take every value).
func startWith(t testing.TB, url string, options sdk.Config, l links, sink run.Sink) *instance {
	t.Helper()
	in := &instance{in: make(chan run.Message, 10000)}
	if sink == nil {
		sink = run.SinkFunc(func(m run.Message, ack func(error)) {
			m.Payload = append([]byte(nil), m.Payload...)
			in.in <- m
			ack(nil)
		})
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Warn, Output: testWriter{t}})
	inst, err := run.Start(context.Background(), grpcconn.NewBuilder(), run.Config{
		Name:     "g",
		URL:      sdk.MustParseURL(url),
		Options:  options,
		Outbound: l.out,
		Routes:   l.in,
		Logger:   logger,
		Sink:     sink,
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	in.Instance = inst
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		inst.Close(ctx)
	})
	return in
}

// publish publishes payloads on link and returns their outcomes.
func (in *instance) publish(link uint32, payloads ...string) []error {
	ps := make([][]byte, len(payloads))
	for i, p := range payloads {
		ps[i] = []byte(p)
	}
	errs := make([]error, len(ps))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in.PublishBatch(ctx, link, in.epoch.Add(1), ps, errs) // a new epoch: each call is a fresh attempt
	return errs
}

// next returns the next inbound message.
func (in *instance) next(t testing.TB) run.Message {
	t.Helper()
	select {
	case m := <-in.in:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no inbound message within 10s")
		return run.Message{}
	}
}

// waitStream waits until the server has n streams of method open.
func waitStream(t testing.TB, srv *grpctest.Server, method string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Streams(method) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams of %s open, want %d", srv.Streams(method), method, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nextCall returns the next call an observer saw.
func nextCall(t testing.TB, ch <-chan *grpctest.Call) *grpctest.Call {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("the server got no call within 10s")
		return nil
	}
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
