package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/testport"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// webhookPeer is the outside system of the HTTP connector for the conformance kit: a
// webhook server on loopback that records what the connector posts, and a client
// that posts to the connector's listener.
type webhookPeer struct {
	addr   string // the webhook server's address, kept across Stop and Start
	listen string // the connector's inbound listener

	mu        sync.Mutex
	srv       *http.Server
	observers map[string][]chan []byte
}

func newWebhookPeer(t *testing.T, listen string) *webhookPeer {
	t.Helper()
	p := &webhookPeer{listen: listen, observers: map[string][]chan []byte{}}
	if err := p.serve("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return p
}

func (p *webhookPeer) serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(p.hook)}
	p.mu.Lock()
	p.addr, p.srv = ln.Addr().String(), srv
	p.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// hook records one webhook call for the observers of its path.
func (p *webhookPeer) hook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	resource := strings.TrimPrefix(r.URL.Path, "/")
	p.mu.Lock()
	for _, ch := range p.observers[resource] {
		select {
		case ch <- body:
		default: // an observer that stopped reading does not hold up the others
		}
	}
	p.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (p *webhookPeer) Resources() conformance.Resources {
	return conformance.Resources{
		Names:    []string{"conf/a", "conf/b", "conf/c"},
		Wildcard: "conf/w/+", WildcardMatch: "conf/w/x", WildcardMiss: "conf/v/x",
	}
}

func (p *webhookPeer) Observe(ctx context.Context, resource string) (<-chan []byte, error) {
	ch := make(chan []byte, 4096)
	p.mu.Lock()
	p.observers[resource] = append(p.observers[resource], ch)
	p.mu.Unlock()
	go func() {
		<-ctx.Done()
		p.mu.Lock()
		list := p.observers[resource]
		for i, c := range list {
			if c == ch {
				p.observers[resource] = append(list[:i], list[i+1:]...)
				break
			}
		}
		close(ch)
		p.mu.Unlock()
	}()
	return ch, nil
}

func (p *webhookPeer) Inject(ctx context.Context, topic string, payload []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.listen+"/"+topic, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("POST /%s: %s: %s", topic, resp.Status, body)
	}
	return nil
}

// Stop takes the webhook server down; Start brings it back at the same address.
func (p *webhookPeer) Stop(ctx context.Context) error {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

func (p *webhookPeer) Start(context.Context) error {
	p.mu.Lock()
	addr := p.addr
	p.mu.Unlock()
	return p.serve(addr)
}

func (p *webhookPeer) url() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "http://" + p.addr
}

// listenerChecks build instances with a link_from, which needs a listener; they run in
// the inbound pass, where every instance gets the same listen address one at a time.
var listenerChecks = []string{"inbound/routes", "inbound/wildcards", "inbound/ack-commit",
	"lifecycle/build-close", "resources/fds", "resources/goroutines"}

// TestConformance runs the connector conformance kit against this plugin: once
// sending webhooks (instances of one test share options, so several at once cannot
// share a listener), once receiving on a listener.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance kit starts many plugin processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{pluginEnv + "=1"}

	t.Run("outbound", func(t *testing.T) {
		peer := newWebhookPeer(t, "")
		skip := map[string]string{}
		for _, c := range listenerChecks {
			skip[c] = "needs a listener: runs in the inbound pass"
		}
		// Both build a link_from, so they need a listener, and the webhook target's
		// outage does not reach it: a listener has no subscription to renew.
		skip["outage/inbound"] = "an HTTP listener does not depend on the webhook target"
		skip["outage/reconnects"] = "needs a listener; the webhook target's outages leave it alone (resources/goroutines counts the listener's goroutines)"
		conformance.Run(t, conformance.Config{
			Plugin: exe, Env: env, URL: peer.url(), Peer: peer, Skip: skip,
			// The machine running the tests may be loaded: publish/largest sends 16 MiB.
			Timeout: 30 * time.Second,
			Options: sdk.Config{"backoff_initial": "20ms", "backoff_max": "200ms", "timeout": "30s"},
		})
	})
	t.Run("inbound", func(t *testing.T) {
		listen := testport.Addr(t)
		peer := newWebhookPeer(t, listen)
		conformance.Run(t, conformance.Config{
			Plugin: exe, Env: env, URL: peer.url(), Peer: peer,
			Options: sdk.Config{"listen": listen},
			Only:    append([]string{"handshake/start"}, listenerChecks...),
			Timeout: 30 * time.Second,
		})
	})
}

var _ conformance.Outage = (*webhookPeer)(nil)
