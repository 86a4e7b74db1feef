package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// webhookConfig feeds record "seq" from POST /in/seq on listen and sends every value
// to the webhook at base (POST base/out/seq).
func webhookConfig(listen, base string) string {
	return fmt.Sprintf(`connector "hooks" {
  plugin    = "http"
  url       = "http://%s"
  listen    = "%s"
  retry_max = "1s"
}
record "seq" {
  capacity = 8192
  link_from "hooks://in/seq" {}
  link_to "hooks://out/seq" {}
}
`, base, listen)
}

// Sizes of the receiver-down test: 2,500 values at 250/s, the receiver down 10 s
// from the 500th.
const (
	webhookValues = 2500
	webhookRate   = 250
	webhookOutage = 10 * time.Second
)

// TestWebhookReceiverDown: the webhook receiver is down (connection refused) for 10 s
// in the middle of the stream; every value arrives after it, in order.
func TestWebhookReceiverDown(t *testing.T) {
	t.Parallel() // light (a low rate, mostly waiting): runs beside the other light tests
	arrived := seqload.NewCounter(webhookValues)
	wh := startWebhook(t, countingHandler(arrived, nil))
	listen := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	h := startHub(t, webhookConfig(listen, wh.Addr), hubOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fed := feedHTTP(ctx, listen, "in/seq", webhookValues, webhookRate, arrived)

	waitFor(t, 30*time.Second, "500 values arrived", func() bool { return arrived.Arrived() >= 500 })
	wh.down()
	t.Logf("receiver down after %d values arrived", arrived.Arrived())
	l := h.waitLink("seq", "hooks://out/seq", 15*time.Second, "retrying", func(l linkStatus) bool { return l.State == "retrying" })
	t.Logf("during the outage: last error %s: %s", l.LastError.Kind, l.LastError.Text)
	time.Sleep(webhookOutage)
	wh.up()

	waitFeed(t, fed, time.Minute)
	r := waitArrived(t, arrived, time.Minute, 20*time.Second)
	l = h.link("seq", "hooks://out/seq")
	t.Logf("link: delivered %d, failed %d, retried %d, dead-lettered %d", l.Stats.Delivered, l.Stats.Failed, l.Stats.Retried, l.Stats.DeadLettered)
	checkCounts(t, "webhook receiver down 10s", r, l.Stats.Retried, 0)
	if l.Stats.Failed == 0 || l.Stats.DeadLettered != 0 {
		t.Errorf("link failed %d, dead-lettered %d: want failures during the outage and no dead letter", l.Stats.Failed, l.Stats.DeadLettered)
	}
}

// TestWebhookRejectsToDeadLetters: the receiver answers 400 to every tenth value;
// those land in aimdb.dead_letters with their kind, link and payload, and the link
// goes on with the next values: every value is either delivered or dead-lettered.
func TestWebhookRejectsToDeadLetters(t *testing.T) {
	t.Parallel() // light (a low rate, mostly waiting): runs beside the other light tests
	const n = 300
	rejected := func(seq uint64) bool { return seq%10 == 3 }
	accounted := seqload.NewCounter(n) // values delivered, and values dead-lettered
	wh := startWebhook(t, countingHandler(accounted, func(seq uint64) int {
		if rejected(seq) {
			return http.StatusBadRequest
		}
		return http.StatusNoContent
	}))
	listen := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	h := startHub(t, webhookConfig(listen, wh.Addr), hubOptions{})
	dead := watchRecord(t, h, "aimdb.dead_letters")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitFeed(t, feedHTTP(ctx, listen, "in/seq", n, 500, accounted), time.Minute)

	var letters []deadLetter
	for len(letters) < n/10 {
		dl := dead.nextDeadLetter(t, 20*time.Second)
		letters = append(letters, dl)
		seq, _, err := seqload.Decode([]byte(dl.Payload))
		if err != nil || !rejected(seq) || dl.Direction != "link_to" || dl.Link != "hooks://out/seq" || dl.Record != "seq" ||
			dl.ErrorKind != "invalid destination" || dl.Instance != "hooks" {
			t.Errorf("dead letter %+v (sequence number %d, %v)", dl, seq, err)
		}
		_ = accounted.Observe([]byte(dl.Payload))
	}
	r := waitArrived(t, accounted, 30*time.Second, 5*time.Second)
	l := h.waitLink("seq", "hooks://out/seq", 10*time.Second, "done", func(l linkStatus) bool {
		return l.Stats.Delivered+l.Stats.DeadLettered == n
	})
	t.Logf("link: delivered %d, dead-lettered %d, state %s; first dead letter: %s: %s", l.Stats.Delivered, l.Stats.DeadLettered, l.State, letters[0].ErrorKind, letters[0].Error)
	checkCounts(t, "delivered or dead-lettered", r, 0, n/10)
	if l.Stats.DeadLettered != n/10 || l.Stats.Delivered != n-n/10 {
		t.Errorf("link delivered %d and dead-lettered %d, want %d and %d", l.Stats.Delivered, l.Stats.DeadLettered, n-n/10, n/10)
	}
	dead.quiet(t, 500*time.Millisecond)
}

// deadLetter is an entry of aimdb.dead_letters (docs/delivery.md).
type deadLetter struct {
	Time             time.Time `json:"time"`
	Direction        string    `json:"direction"`
	Instance         string    `json:"instance"`
	Link             string    `json:"link"`
	Record           string    `json:"record"`
	ErrorKind        string    `json:"error_kind"`
	Error            string    `json:"error"`
	Payload          string    `json:"payload"`
	PayloadEncoding  string    `json:"payload_encoding"`
	PayloadSize      int       `json:"payload_size"`
	PayloadTruncated bool      `json:"payload_truncated"`
}

// nextDeadLetter is the next value of a watch of aimdb.dead_letters.
func (w *watcher) nextDeadLetter(t *testing.T, d time.Duration) deadLetter {
	t.Helper()
	ev := w.next(t, d)
	if ev.Topic != "aimdb.dead_letters" {
		t.Fatalf("watch: %s %.100s, want a dead letter", ev.Topic, ev.Data)
	}
	return decodeDeadLetter(t, ev.Data)
}

func decodeDeadLetter(t *testing.T, data []byte) deadLetter {
	t.Helper()
	var dl deadLetter
	if err := json.Unmarshal(data, &dl); err != nil {
		t.Fatalf("dead letter %.200s: %v", data, err)
	}
	return dl
}

// oneLine cuts s to one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
