package faults

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// TestPoisonMessagesAreDeadLettered: a 17 MiB MQTT message (over the 16 MiB the plugin
// boundary carries) and invalid JSON on MQTT and on HTTP land in aimdb.dead_letters
// with their size, truncation and error kind; they are acknowledged (HTTP: 400), so
// they block nothing, and every valid value behind them arrives.
func TestPoisonMessagesAreDeadLettered(t *testing.T) {
	t.Parallel() // light (a low rate, mostly waiting): runs beside the other light tests

	const valid = 150 // per link: 50 before the first poison message, 50 between, 50 after
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Quiet: true, Extra: "message_size_limit 0\nmax_queued_messages 0\n"})
	listen := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	h := startHub(t, fmt.Sprintf(`connector "mqtt" {
  url = "mqtt://%s"
}
connector "hooks" {
  plugin = "http"
  listen = "%s"
}
record "mq" {
  capacity = 1024
  link_from "mqtt://in/seq" { qos = 1 }
}
record "web" {
  capacity = 1024
  link_from "hooks://in/seq" {}
}
`, broker.Addr, listen), hubOptions{})
	h.waitConnected(10*time.Second, "mqtt", "hooks")
	watch := watchRecord(t, h, "#")

	big := bytes.Repeat([]byte("x"), 17<<20)
	copy(big, `{"big":"`)
	copy(big[len(big)-2:], `"}`)
	const notJSON = `{"s":42,"t":`
	mq, web := seqload.NewCounter(valid), seqload.NewCounter(valid)
	pub := newMQTTPublisher(t, broker.Addr, "in/seq")
	post := newHTTPPoster(listen, "in/seq")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, poison := range [][]byte{[]byte(notJSON), big, nil} {
		first := uint64(i * valid / 3)
		for _, g := range []*seqload.Generator{
			{Format: seqload.JSON, Count: valid / 3, FirstSeq: first, Publish: pub.Publish, Counter: mq},
			{Format: seqload.JSON, Count: valid / 3, FirstSeq: first, Publish: post.Publish, Counter: web},
		} {
			if _, err := g.Run(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if poison == nil {
			continue
		}
		if err := pub.Publish(0, poison); err != nil {
			t.Fatal(err)
		}
		if len(poison) < 1<<20 { // the HTTP listener takes at most inbound_max_body (1 MiB)
			if code, err := post.post(poison); err != nil || code != http.StatusBadRequest {
				t.Errorf("POST of invalid JSON: status %d (%v), want 400", code, err)
			}
		}
	}
	if err := pub.flush(); err != nil {
		t.Fatal(err)
	}

	letters := map[string]deadLetter{} // by link and kind
	for len(letters) < 3 {
		ev := watch.next(t, 30*time.Second)
		switch ev.Topic {
		case "mq":
			_ = mq.Observe(ev.Data)
		case "web":
			_ = web.Observe(ev.Data)
		case "aimdb.dead_letters":
			dl := decodeDeadLetter(t, ev.Data)
			t.Logf("dead letter: %s %s %s: %s (payload %d bytes%s)", dl.Direction, dl.Link, dl.ErrorKind, oneLine(dl.Error, 160), dl.PayloadSize, map[bool]string{true: ", truncated"}[dl.PayloadTruncated])
			letters[dl.Link+" "+dl.ErrorKind] = dl
		default:
			t.Errorf("watch: unexpected %s %.100s", ev.Topic, ev.Data)
		}
	}
	for _, c := range []struct {
		key, payload string
		size         int
		truncated    bool
	}{
		{"mqtt://in/seq rejected", notJSON, len(notJSON), false},
		{"hooks://in/seq rejected", notJSON, len(notJSON), false},
		{"mqtt://in/seq message too large", "", len(big), true},
	} {
		dl, ok := letters[c.key]
		switch {
		case !ok:
			t.Errorf("no dead letter %s; got %v", c.key, keys(letters))
		case dl.Direction != "link_from" || dl.PayloadSize != c.size || dl.PayloadTruncated != c.truncated ||
			(c.payload != "" && dl.Payload != c.payload) || (c.truncated && len(dl.Payload) >= c.size):
			t.Errorf("dead letter %s: direction %s, payload_size %d, payload_truncated %v, payload %d bytes %.40q; want link_from, %d, %v",
				c.key, dl.Direction, dl.PayloadSize, dl.PayloadTruncated, len(dl.Payload), dl.Payload, c.size, c.truncated)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); mq.Arrived()+web.Arrived() < 2*valid && time.Now().Before(deadline); {
		ev := watch.next(t, 30*time.Second)
		switch ev.Topic {
		case "mq":
			_ = mq.Observe(ev.Data)
		case "web":
			_ = web.Observe(ev.Data)
		default:
			t.Errorf("watch: unexpected %s %.100s", ev.Topic, ev.Data)
		}
	}
	checkCounts(t, "MQTT values around the poison", mq.Report(), 0, 0)
	checkCounts(t, "HTTP values around the poison", web.Report(), 0, 0)
	for _, u := range []string{"mqtt://in/seq", "hooks://in/seq"} {
		rec := map[string]string{"mqtt://in/seq": "mq", "hooks://in/seq": "web"}[u]
		if l := h.link(rec, u); l.Stats.Received != valid {
			t.Errorf("link %s: received %d, want %d: %s", u, l.Stats.Received, valid, linkSummary(l))
		}
	}
	watch.quiet(t, 500*time.Millisecond)
}

func keys(m map[string]deadLetter) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
