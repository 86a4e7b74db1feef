package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/aimdb-dev/aimdb-go/host/control"
)

// wsDial opens the control protocol on base's /ws.
func wsDial(t *testing.T, base string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws?v=3.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(8 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func wsSend(t *testing.T, c *websocket.Conn, frame string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

func wsRead(t *testing.T, c *websocket.Conn) control.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f control.Frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("bad frame %q: %v", b, err)
	}
	return f
}

// TestWSVersionGate: /ws without v, or with another major version, gets 426.
func TestWSVersionGate(t *testing.T) {
	h := startHub(t, `record "a" {}`, Options{})
	for _, q := range []string{"", "?v=", "?v=2.0", "?v=4", "?v=30"} {
		code, body := get(t, h.base+"/ws"+q, "Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		if code != http.StatusUpgradeRequired || !strings.Contains(string(body), "/ws?v=3.0") {
			t.Errorf("/ws%s: %d %q, want 426", q, code, body)
		}
	}
	c := wsDial(t, h.base)
	wsSend(t, c, `{"t":"req","id":1,"method":"hello"}`)
	f := wsRead(t, c)
	var hello control.Hello
	if err := json.Unmarshal(f.OK, &hello); err != nil || hello.Protocol != "aimx" || hello.Version != "3" {
		t.Fatalf("hello: %+v (%v)", f, err)
	}
}

// TestWSProtocol: the WebSocket speaks the control socket's protocol: methods,
// subscriptions with snapshots and events, writes, and frame limits that keep the
// connection.
func TestWSProtocol(t *testing.T) {
	h := startHub(t, `
record "sensors.temp" { writable = true }
record "state.mode" {
  buffer   = "single_latest"
  writable = true
}
`, Options{Control: control.Options{MaxFrame: 1024}})
	if err := h.db.SetJSON("state.mode", json.RawMessage(`"eco"`)); err != nil {
		t.Fatal(err)
	}
	c := wsDial(t, h.base)
	wsSend(t, c, `{"t":"req","id":1,"method":"record.list"}`)
	var recs []control.RecordInfo
	if f := wsRead(t, c); json.Unmarshal(f.OK, &recs) != nil || len(recs) != 4 { // with aimdb.dead_letters and aimdb.status
		t.Fatalf("record.list: %+v", f)
	}
	wsSend(t, c, `{"t":"sub","id":7,"topic":"state.#"}`)
	if f := wsRead(t, c); f.T != control.TagSubscribed || f.Sub != 7 || strings.Join(f.Topics, ",") != "state.mode" {
		t.Fatalf("sub: %+v", f)
	}
	if f := wsRead(t, c); f.T != control.TagSnap || string(f.Data) != `"eco"` {
		t.Fatalf("snap: %+v", f)
	}
	wsSend(t, c, `{"t":"write","id":8,"topic":"state.mode","payload":"away"}`)
	for got := 0; got < 2; {
		f := wsRead(t, c)
		switch {
		case f.T == control.TagReply && f.ID == 8 && string(f.OK) == "true":
			got++
		case f.T == control.TagEvent && f.Sub == 7 && string(f.Data) == `"away"` && f.Seq == 1:
			got++
		default:
			t.Fatalf("after write: %+v", f)
		}
	}
	wsSend(t, c, `{"t":"req","id":9,"method":"record.set","params":{"key":"sensors.temp","value":`+strings.Repeat(" ", 2000)+`1}}`)
	if f := wsRead(t, c); f.Err != control.CodeLimit || !strings.Contains(f.Msg, "frame longer than 1024") {
		t.Fatalf("overlong frame: %+v", f)
	}
	wsSend(t, c, `{"t":"ping","id":10}`)
	if f := wsRead(t, c); f.T != control.TagPong || f.ID != 10 {
		t.Fatalf("ping after an overlong frame: %+v", f)
	}
	wsSend(t, c, `{"t":"req","id":11,"method":"link.list"}`)
	if f := wsRead(t, c); f.ID != 11 || string(f.OK) != "[]" {
		t.Fatalf("link.list: %+v", f)
	}
}

// TestWSSlowClientCutOff: a client that stops reading is cut off once a write has
// waited WriteTimeout, with a log line.
func TestWSSlowClientCutOff(t *testing.T) {
	h, c, value := silentSubscriber(t, 300*time.Millisecond)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(h.log.String(), "client stopped reading; connection cut off") {
		if time.Now().After(deadline) {
			t.Fatal("the client that stopped reading was not cut off")
		}
		if err := h.db.SetJSON("big", value); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			break // what was buffered, then the end
		}
	}
	if ctx.Err() != nil {
		t.Error("connection still open after the cut-off")
	}
}

// TestWSWriterNeverWaitsForAClient: the record's writer does not wait for a client that
// stops reading: 13 MiB of values, far more than the socket buffers and the client's
// queue hold, are all written long before the first write to that client would give up
// (WriteTimeout 30 s, the wait a writer tied to the client would have).
func TestWSWriterNeverWaitsForAClient(t *testing.T) {
	h, _, value := silentSubscriber(t, 30*time.Second)
	done := make(chan error, 1)
	go func() {
		for range 200 {
			if err := h.db.SetJSON("big", value); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the record's writer waited for a client that does not read")
	}
}

// silentSubscriber starts a hub with a writable record "big" (WriteTimeout as given)
// and a WebSocket client subscribed to it that reads nothing from then on; value is a
// 64 KiB value to write.
func silentSubscriber(t *testing.T, writeTimeout time.Duration) (*hub, *websocket.Conn, json.RawMessage) {
	t.Helper()
	h := startHub(t, "record \"big\" {\n  capacity = 16\n  writable = true\n}\n", Options{Control: control.Options{WriteTimeout: writeTimeout}})
	c := wsDial(t, h.base)
	wsSend(t, c, `{"t":"sub","id":1,"topic":"big"}`)
	if f := wsRead(t, c); f.T != control.TagSubscribed {
		t.Fatalf("sub: %+v", f)
	}
	return h, c, json.RawMessage(`"` + strings.Repeat("x", 64<<10) + `"`)
}

// TestWSRefusesOtherOrigins: a page of another origin cannot open /ws (403); the
// listener's own origin can.
func TestWSRefusesOtherOrigins(t *testing.T) {
	h := startHub(t, `record "a" {}`, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(h.base, "http") + "/ws?v=3.0"
	_, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("dial from origin http://evil.example: %v (response %v), want 403", err, resp)
	}
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {h.base}}})
	if err != nil {
		t.Fatalf("dial from the listener's own origin %s: %v", h.base, err)
	}
	c.CloseNow()
}

// TestWSEventRate: a WebSocket connection is sent at most wsMaxEventRate events a
// second (after a first second's worth at once); values over the rate wait in the
// record and come later, none lost or twice, in order.
func TestWSEventRate(t *testing.T) {
	const n = 4 * wsMaxEventRate
	h := startHub(t, fmt.Sprintf("record \"fast\" {\n  capacity = %d\n  writable = true\n}\n", 2*n), Options{})
	c := wsDial(t, h.base)
	wsSend(t, c, `{"t":"sub","id":1,"topic":"fast"}`)
	if f := wsRead(t, c); f.T != control.TagSubscribed {
		t.Fatalf("sub: %+v", f)
	}
	for i := 1; i <= n; i++ {
		if err := h.db.SetJSON("fast", json.RawMessage(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	var first time.Time
	var within2s, lost int
	next := uint64(1)
	for next <= n {
		f := wsRead(t, c)
		if f.T != control.TagEvent {
			t.Fatalf("frame %+v", f)
		}
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		if now.Sub(first) <= 2*time.Second {
			within2s++
		}
		lost += int(f.Lag)
		if f.Seq != next+f.Lag || string(f.Data) != strconv.FormatUint(f.Seq, 10) {
			t.Fatalf("event seq %d data %s lag %d, want seq %d", f.Seq, f.Data, f.Lag, next)
		}
		next = f.Seq + 1
	}
	elapsed := time.Since(first)
	t.Logf("%d events in %v, %d in the first 2 s, %d lost", n, elapsed.Round(time.Millisecond), within2s, lost)
	// A token bucket of one second's events, refilled at the rate: at most 3 s worth
	// by 2 s after the first, with 5 % for timer slack.
	if limit := 3 * wsMaxEventRate * 105 / 100; within2s > limit {
		t.Errorf("%d events within 2 s of the first, want at most %d (rate %d/s)", within2s, limit, wsMaxEventRate)
	}
	if lost != 0 {
		t.Errorf("%d values lost: the ring holds them all", lost)
	}
}

// TestWSConnectionLimit: /ws takes wsMaxConns connections by default; one more makes
// the connection idle longest give way, with a notice.
func TestWSConnectionLimit(t *testing.T) {
	h := startHub(t, `record "a" {}`, Options{})
	conns := make([]*websocket.Conn, wsMaxConns)
	for i := range conns {
		conns[i] = wsDial(t, h.base)
		wsSend(t, conns[i], fmt.Sprintf(`{"t":"ping","id":%d}`, i))
		if f := wsRead(t, conns[i]); f.T != control.TagPong {
			t.Fatalf("connection %d: %+v", i, f)
		}
	}
	time.Sleep(1100 * time.Millisecond) // every one idle, the first longest
	for i := 1; i < len(conns); i++ {   // all but the first speak again
		wsSend(t, conns[i], `{"t":"ping","id":1}`)
		if f := wsRead(t, conns[i]); f.T != control.TagPong {
			t.Fatalf("connection %d: %+v", i, f)
		}
	}
	extra := wsDial(t, h.base)
	wsSend(t, extra, `{"t":"ping","id":1}`)
	if f := wsRead(t, extra); f.T != control.TagPong {
		t.Fatalf("connection %d: %+v", wsMaxConns+1, f)
	}
	if f := wsRead(t, conns[0]); f.Err != control.CodeLimit || !strings.Contains(f.Msg, "idle longest") {
		t.Fatalf("the connection idle longest got %+v, want the notice that it gave way", f)
	}
}
