package httpconn

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// start runs the connector in-process, closing it when the test ends.
func start(t *testing.T, rawURL string, opts sdk.Config, routes []sdk.Route, sink run.Sink, host sdk.Host) (*run.Instance, *connector) {
	t.Helper()
	inst, err := startErr(rawURL, opts, routes, sink, host)
	if err != nil {
		t.Fatalf("run.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = inst.Close(ctx)
	})
	return inst, inst.Connector().(*connector)
}

func startErr(rawURL string, opts sdk.Config, routes []sdk.Route, sink run.Sink, host sdk.Host) (*run.Instance, error) {
	var u sdk.URL
	if rawURL != "" {
		var err error
		if u, err = sdk.ParseURL(rawURL); err != nil {
			return nil, err
		}
	}
	return run.Start(context.Background(), NewBuilder(), run.Config{
		Name: "hooks", URL: u, Options: opts, Routes: routes, Sink: sink, Host: host,
	})
}

// delivered is one message a recordingSink took.
type delivered struct {
	route   uint32
	topic   string
	payload string
}

// recordingSink records inbound messages and answers them with answer (nil: ack at once).
type recordingSink struct {
	mu     sync.Mutex
	got    []delivered
	answer func(m run.Message, ack func(error))
}

func (s *recordingSink) Deliver(m run.Message, ack func(error)) {
	s.mu.Lock()
	s.got = append(s.got, delivered{m.RouteID, m.Topic, string(m.Payload)})
	answer := s.answer
	s.mu.Unlock()
	if answer == nil {
		ack(nil)
		return
	}
	answer(m, ack)
}

func (s *recordingSink) messages() []delivered {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivered(nil), s.got...)
}

// fakeHost answers Latest from a function.
type fakeHost struct {
	latest func(resource string) ([]byte, error)
}

func (h fakeHost) Latest(_ context.Context, resource string) ([]byte, error) {
	return h.latest(resource)
}
