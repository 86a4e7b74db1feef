package websocket_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/websocket/wstest"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// hubPeer is the node-ws hub as the conformance kit's outside system: without
// route_field a resource is a path of its own; routed, it is the topic field of
// frames on "/".
type hubPeer struct {
	*wstest.Hub
	routed bool
}

func (p hubPeer) Resources() conformance.Resources {
	r := conformance.Resources{Names: []string{"conf/a", "conf/b", "conf/c"}}
	if p.routed {
		r.Wildcard, r.WildcardMatch, r.WildcardMiss = "conf/w/+", "conf/w/x", "conf/v/x"
	}
	return r
}

// envelope is a routed frame.
type envelope struct {
	Topic   string `json:"topic"`
	Payload string `json:"payload"`
}

func (p hubPeer) Observe(ctx context.Context, resource string) (<-chan []byte, error) {
	path := "/" + resource
	if p.routed {
		path = "/"
	}
	events := p.Subscribe(ctx, func(ev wstest.Event) bool { return ev.Event == "message" && ev.Path == path })
	out := make(chan []byte, 1<<16)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-events:
				data := ev.Data
				if p.routed {
					var e envelope
					if json.Unmarshal(data, &e) != nil || e.Topic != resource {
						continue
					}
					data = []byte(e.Payload)
				}
				if data == nil {
					data = []byte{}
				}
				out <- data
			}
		}
	}()
	return out, nil
}

func (p hubPeer) Inject(ctx context.Context, topic string, payload []byte) error {
	path, data := "/"+topic, payload
	if p.routed {
		path = "/"
		data, _ = json.Marshal(envelope{Topic: topic, Payload: string(payload)})
	}
	n, err := p.Send(ctx, path, data, false)
	if err == nil && n == 0 {
		err = fmt.Errorf("no client connected on %s", path)
	}
	return err
}

var _ conformance.Outage = hubPeer{}

// TestConformance runs the conformance kit against the plugin binary (built here with
// CGO disabled) and the node-ws hub: everything with one connection per resource,
// then the inbound checks (wildcards included) with routed frames.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	dir := t.TempDir()
	if err := testbuild.Packages(dir, "./plugins/websocket"); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "websocket")
	opts := sdk.Config{"reconnect_min": "50ms", "reconnect_max": "300ms", "ping_interval": "1s"}
	t.Run("per-resource", func(t *testing.T) {
		h := wstest.Start(t, wstest.Options{})
		conformance.Run(t, conformance.Config{
			Plugin: bin, URL: h.URL("ws", ""), Options: opts, Peer: hubPeer{Hub: h},
			Timeout: 20 * time.Second, Cycles: 5,
		})
	})
	t.Run("routed", func(t *testing.T) {
		h := wstest.Start(t, wstest.Options{})
		routed := opts.Clone()
		routed["route_field"] = "topic"
		conformance.Run(t, conformance.Config{
			Plugin: bin, URL: h.URL("ws", "/"), Options: routed, Peer: hubPeer{Hub: h, routed: true},
			Only:    []string{"inbound/", "publish/single", "publish/parallel", "outage/"},
			Timeout: 20 * time.Second,
		})
	})
}
