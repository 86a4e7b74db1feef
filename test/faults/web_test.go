package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// webhook is an HTTP receiver on a loopback port that can go down (connections
// refused) and come back on the same port.
type webhook struct {
	t       *testing.T
	Addr    string
	handler http.Handler
	mu      sync.Mutex
	srv     *http.Server
}

// startWebhook serves handler on a free loopback port until the test ends.
func startWebhook(t *testing.T, handler http.Handler) *webhook {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &webhook{t: t, Addr: ln.Addr().String(), handler: handler}
	w.serve(ln)
	t.Cleanup(w.down)
	return w
}

func (w *webhook) serve(ln net.Listener) {
	srv := &http.Server{Handler: w.handler, ReadHeaderTimeout: 10 * time.Second}
	w.mu.Lock()
	w.srv = srv
	w.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the listener and every connection: requests are refused until up.
func (w *webhook) down() {
	w.mu.Lock()
	srv := w.srv
	w.srv = nil
	w.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens on the same port again.
func (w *webhook) up() {
	w.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", w.Addr)
		if err == nil {
			w.serve(ln)
			return
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			w.t.Fatalf("webhook: listen on %s again: %v", w.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countingHandler counts every request body it answers with 2xx in ctr; status
// picks the answer for a sequence number (nil: always 204).
func countingHandler(ctr *seqload.Counter, status func(seq uint64) int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		seq, _, err := seqload.Decode(body)
		code := http.StatusNoContent
		if err == nil && status != nil {
			code = status(seq)
		}
		if code/100 == 2 {
			_ = ctr.Observe(body)
		}
		w.WriteHeader(code)
	})
}

// httpPoster POSTs values to an aimdb HTTP listener, one at a time and in order.
type httpPoster struct {
	client *http.Client
	url    string
}

func newHTTPPoster(listen, path string) *httpPoster {
	return &httpPoster{client: &http.Client{Timeout: 30 * time.Second}, url: "http://" + listen + "/" + path}
}

// post sends one body and returns the status code.
func (p *httpPoster) post(body []byte) (int, error) {
	resp, err := p.client.Post(p.url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Publish is a seqload Generator's Publish: the value counts as sent when aimdb
// answered 204, i.e. once the record took it.
func (p *httpPoster) Publish(_ uint64, payload []byte) error {
	code, err := p.post(payload)
	if err != nil {
		return err
	}
	if code != http.StatusNoContent {
		return fmt.Errorf("POST %s: status %d", p.url, code)
	}
	return nil
}

// feedHTTP POSTs count JSON sequence payloads to path on an aimdb HTTP listener at
// rate per second, counting in ctr those aimdb answered with 204.
func feedHTTP(ctx context.Context, listen, path string, count uint64, rate float64, ctr *seqload.Counter) <-chan error {
	p := newHTTPPoster(listen, path)
	return feed(ctx, &seqload.Generator{Format: seqload.JSON, Size: 64, Count: count, Rate: rate, Publish: p.Publish, Counter: ctr}, nil)
}
