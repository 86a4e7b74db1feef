package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var testRecords = []RecordInfo{
	{Key: "sensors.temp", Buffer: "spmc_ring", Capacity: 16},
	{Key: "sensors.hum", Buffer: "spmc_ring", Capacity: 16},
	{Key: "sensors.room.a", Buffer: "spmc_ring", Capacity: 16},
	{Key: "cmd.light", Buffer: "mailbox", Writable: true},
	{Key: "state.mode", Buffer: "single_latest", Writable: true},
}

// start runs a server over b on a socket in a temporary directory.
func start(t *testing.T, b Backend, opts Options) (addr string, srv *Server) {
	t.Helper()
	addr = "unix://" + filepath.Join(t.TempDir(), "c.sock")
	l, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	srv = NewServer(b, opts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return addr, srv
}

// raw is a bare protocol connection for tests that send hand-written frames.
type raw struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	path, _ := SocketPath(addr)
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{t: t, nc: nc, r: bufio.NewReaderSize(nc, 1<<20)}
}

func (c *raw) send(line string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(line + "\n")); err != nil {
		c.t.Fatal(err)
	}
}

func (c *raw) read() Frame {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f Frame
	if err := json.Unmarshal(line, &f); err != nil {
		c.t.Fatalf("bad frame %q: %v", line, err)
	}
	return f
}

// tryRead reads a frame, or reports false when none comes within d.
func (c *raw) tryRead(d time.Duration) (Frame, bool) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(d))
	line, err := c.r.ReadBytes('\n')
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && len(line) == 0 {
		return Frame{}, false
	}
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f Frame
	if err := json.Unmarshal(line, &f); err != nil {
		c.t.Fatalf("bad frame %q: %v", line, err)
	}
	return f, true
}

// drainEvents reads the events of a subscriber that fell behind until the stream has
// gone quiet and then a marker value (produced by mark, recognised by isMarker)
// arrives: the marker carries the lag of the last drops. It hands every other event to
// each and returns the total lag.
func (c *raw) drainEvents(mark func(), isMarker func(Frame) bool, each func(Frame)) (lag uint64) {
	c.t.Helper()
	marked := false
	for {
		wait := 300 * time.Millisecond
		if marked {
			wait = 10 * time.Second
		}
		f, ok := c.tryRead(wait)
		if !ok {
			if marked {
				c.t.Fatal("marker never arrived")
			}
			mark()
			marked = true
			continue
		}
		if f.T != TagEvent {
			c.t.Fatalf("got %s, want an event", f.T)
		}
		lag += f.Lag
		if isMarker(f) {
			return lag
		}
		each(f)
	}
}

func (c *raw) expectErr(code, msgPart string) Frame {
	c.t.Helper()
	f := c.read()
	if f.T != TagReply || f.Err != code || !strings.Contains(f.Msg, msgPart) {
		c.t.Fatalf("got %+v, want reply err %s containing %q", f, code, msgPart)
	}
	return f
}

func TestMalformedFramesKeepConnection(t *testing.T) {
	addr, _ := start(t, newMem(8, testRecords...), Options{MaxFrame: 4096})
	c := dialRaw(t, addr)
	c.send(`this is not json`)
	c.expectErr(CodeBadRequest, "malformed frame")
	c.send(`{"t":"req","id":7,"method":"record.get","params":"oops"}`)
	if f := c.expectErr(CodeBadRequest, "bad params"); f.ID != 7 {
		t.Errorf("reply id %d, want 7", f.ID)
	}
	c.send(`{"t":"req","id":"x"}`)
	c.expectErr(CodeBadRequest, "malformed frame")
	c.send(`{"id":3}`)
	c.expectErr(CodeBadRequest, `no "t" tag`)
	c.send(`{"t":"launch","id":4}`)
	c.expectErr(CodeBadRequest, `unknown frame tag "launch"`)
	c.send(`{"t":"req","method":"hello"}`)
	c.expectErr(CodeBadRequest, "positive id")
	c.send(`{"t":"req","id":5,"method":"record.drop"}`)
	c.expectErr(CodeNotFound, `unknown method "record.drop"`)
	c.send(`{"t":"req","id":6,"method":"record.get","params":{"key":"nope"}}`)
	c.expectErr(CodeNotFound, `record "nope"`)
	c.send(`{"t":"sub","id":8,"topic":"a.#.b"}`)
	c.expectErr(CodeBadRequest, "must be the last segment")
	c.send(`{"t":"req","id":9,"method":"record.set","params":{"key":"cmd.light","value":}}`)
	c.expectErr(CodeBadRequest, "malformed frame")
	c.send(`{"t":"req","id":10,"params":` + strings.Repeat(" ", 5000) + `}`)
	c.expectErr(CodeLimit, "frame longer than 4096 bytes")
	c.send(`{"t":"ping","id":11}`)
	if f := c.read(); f.T != TagPong || f.ID != 11 {
		t.Fatalf("after errors got %+v, want pong", f)
	}
	c.send(`{"t":"req","id":12,"method":"hello"}`)
	f := c.read()
	var h Hello
	if err := json.Unmarshal(f.OK, &h); err != nil || h.Version != ProtocolVersion || strings.Join(h.Writable, ",") != "cmd.light,state.mode" {
		t.Fatalf("hello = %+v (%s), %v", h, f.OK, err)
	}
}

func TestSetGetAndDenied(t *testing.T) {
	mem := newMem(8, testRecords...)
	addr, _ := start(t, mem, Options{})
	ctx := context.Background()
	cl, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Get(ctx, "cmd.light"); !isRemote(err, CodeNotFound) {
		t.Errorf("get before any value: %v, want not_found", err)
	}
	if err := cl.Set(ctx, "cmd.light", json.RawMessage(`{"on":true}`)); err != nil {
		t.Fatal(err)
	}
	v, err := cl.Get(ctx, "cmd.light")
	if err != nil || string(v) != `{"on":true}` {
		t.Fatalf("get = %s, %v", v, err)
	}
	err = cl.Set(ctx, "sensors.temp", json.RawMessage(`1`))
	if !isRemote(err, CodeDenied) || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("set on a read-only record: %v, want denied", err)
	}
	if _, err := mem.Get("sensors.temp"); err == nil {
		t.Error("a denied set changed the record")
	}
	// A write frame without id answers only when it fails, naming the topic.
	c := dialRaw(t, addr)
	c.send(`{"t":"write","topic":"sensors.hum","payload":42}`)
	if f := c.expectErr(CodeDenied, "not writable"); f.Topic != "sensors.hum" {
		t.Errorf("write error names topic %q", f.Topic)
	}
	c.send(`{"t":"write","topic":"cmd.light","payload":{"on":false}}`)
	c.send(`{"t":"write","id":3,"topic":"cmd.light","payload":{"on":1}}`)
	if f := c.read(); f.ID != 3 || string(f.OK) != "true" {
		t.Fatalf("write with id: %+v", f)
	}
	if v, _ := mem.Get("cmd.light"); string(v) != `{"on":1}` {
		t.Errorf("value after writes = %s", v)
	}
}

func TestReadOnlyServer(t *testing.T) {
	addr, _ := start(t, newMem(8, testRecords...), Options{ReadOnly: true})
	ctx := context.Background()
	cl, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Set(ctx, "cmd.light", json.RawMessage(`1`)); !isRemote(err, CodeDenied) {
		t.Errorf("set on read-only socket: %v", err)
	}
	h, err := cl.Hello(ctx)
	if err != nil || len(h.Writable) != 0 || strings.Contains(strings.Join(h.Permissions, ","), "write") {
		t.Errorf("hello = %+v, %v", h, err)
	}
}

func TestPatternSubscription(t *testing.T) {
	mem := newMem(64, testRecords...)
	addr, _ := start(t, mem, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	mem.produce("state.mode", json.RawMessage(`"auto"`))

	sub, err := cl.Subscribe(ctx, "sensors.*")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sub.Topics, ","); got != "sensors.hum,sensors.temp" {
		t.Errorf("sensors.* matched %s", got)
	}
	all, err := cl.Subscribe(ctx, "#")
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Topics) != len(testRecords)-1 || slices.Contains(all.Topics, "cmd.light") {
		t.Errorf("# matched %v; want every record but the mailbox, which refuses watchers", all.Topics)
	}
	if _, err := cl.Subscribe(ctx, "cmd.light"); !isRemote(err, CodeDenied) || !strings.Contains(err.Error(), "mailbox") {
		t.Errorf("subscribe to the mailbox by name: %v, want denied", err)
	}
	if _, err := cl.Subscribe(ctx, "cmd.*"); !isRemote(err, CodeDenied) {
		t.Errorf("subscribe to a pattern matching only the mailbox: %v, want denied", err)
	}
	e, err := all.Next(ctx)
	if err != nil || !e.Snapshot || e.Topic != "state.mode" || string(e.Data) != `"auto"` {
		t.Fatalf("first event on # = %+v, %v; want snap of state.mode", e, err)
	}
	mem.produce("sensors.hum", json.RawMessage(`40`))
	if e, err := all.Next(ctx); err != nil || e.Snapshot || e.Topic != "sensors.hum" {
		t.Fatalf("event after the snap = %+v, %v; want sensors.hum (the snap must not repeat)", e, err)
	}
	if _, err := cl.Subscribe(ctx, "nothing.*"); !isRemote(err, CodeNotFound) {
		t.Errorf("subscribe to a pattern matching nothing: %v", err)
	}

	mem.produce("sensors.room.a", json.RawMessage(`0`)) // not matched by sensors.*
	mem.produce("sensors.temp", json.RawMessage(`21.5`))
	mem.produce("sensors.temp", json.RawMessage(`22`))
	var got []string
	if e, err := sub.Next(ctx); err != nil || e.Topic != "sensors.hum" {
		t.Fatalf("sensors.* first event %+v, %v", e, err)
	}
	for i := 0; i < 2; i++ {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s=%s#%d", e.Topic, e.Data, e.Seq))
	}
	if strings.Join(got, " ") != "sensors.temp=21.5#2 sensors.temp=22#3" {
		t.Errorf("events = %v", got)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	// After unsub the server closes that subscription's watchers: only "#" remains.
	waitFor(t, func() bool { return mem.watchers() == len(testRecords)-1 })
	if _, err := sub.Next(ctx); err == nil {
		t.Error("Next after Close returned an event")
	}
}

// TestSlowSubscriberGetsLag: a client that reads nothing fills its queue; the server
// then stops reading the record's watcher, whose own bounded queue (64 values, like a
// ring) drops the rest and counts them. The writer never waits.
func TestSlowSubscriberGetsLag(t *testing.T) {
	mem := newMem(64, testRecords...)
	addr, _ := start(t, mem, Options{QueueLen: 4})
	c := dialRaw(t, addr)
	c.send(`{"t":"sub","id":1,"topic":"sensors.temp"}`)
	if f := c.read(); f.T != TagSubscribed || f.Sub != 1 {
		t.Fatalf("got %+v, want subscribed", f)
	}
	// The client reads nothing while values pour in: far more than the socket buffers.
	const n = 3000
	big := `"` + strings.Repeat("x", 2048) + `"`
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			mem.produce("sensors.temp", json.RawMessage(big))
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("producing blocked behind a slow subscriber")
	}
	var delivered, lastSeq uint64
	checkSeq := func(f Frame) {
		if f.Seq != lastSeq+1 {
			t.Fatalf("seq %d after seq %d", f.Seq, lastSeq)
		}
		lastSeq = f.Seq
	}
	lag := c.drainEvents(
		func() { mem.produce("sensors.temp", json.RawMessage(`"end"`)) },
		func(f Frame) bool { checkSeq(f); return string(f.Data) == `"end"` },
		func(Frame) { delivered++ })
	if lag == 0 || delivered+lag != n {
		t.Errorf("delivered %d + lag %d, want %d with lag > 0", delivered, lag, n)
	}
}

func TestLimits(t *testing.T) {
	addr, _ := start(t, newMem(8, testRecords...), Options{MaxSubs: 2, MaxConns: 1})
	c := dialRaw(t, addr)
	c.send(`{"t":"sub","id":1,"topic":"sensors.temp"}`)
	c.read()
	c.send(`{"t":"sub","id":1,"topic":"sensors.hum"}`)
	c.expectErr(CodeBadRequest, "exists already")
	c.send(`{"t":"sub","id":2,"topic":"sensors.hum"}`)
	c.read()
	c.send(`{"t":"sub","id":3,"topic":"state.mode"}`)
	c.expectErr(CodeLimit, "too many subscriptions")
	c.send(`{"t":"unsub","sub":9}`)
	c.expectErr(CodeNotFound, "no subscription 9")
	c.send(`{"t":"unsub","id":4,"sub":2}`)
	if f := c.read(); f.ID != 4 || f.Err != "" {
		t.Fatalf("unsub reply %+v", f)
	}
	c.send(`{"t":"sub","id":3,"topic":"state.mode"}`)
	if f := c.read(); f.T != TagSubscribed {
		t.Fatalf("sub after unsub: %+v", f)
	}
	second := dialRaw(t, addr)
	second.expectErr(CodeLimit, "too many control connections")
}

func TestGraphMethods(t *testing.T) {
	addr, _ := start(t, newMem(8, testRecords...), Options{})
	ctx := context.Background()
	cl, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	g, err := cl.Graph(ctx)
	if err != nil || len(g.Nodes) != 2 || len(g.Edges) != 1 || g.TopoOrder[0] != "a" {
		t.Fatalf("graph = %+v, %v", g, err)
	}
	dot := g.DOT()
	if !strings.Contains(dot, `"record:a" -> "link:mqtt://t";`) || !strings.Contains(dot, `"record:a" [label="a", shape=ellipse];`) {
		t.Errorf("dot:\n%s", dot)
	}
	recs, err := cl.Records(ctx)
	if err != nil || len(recs) != len(testRecords) {
		t.Errorf("records = %v, %v", recs, err)
	}
}

func TestClientSeesServerClose(t *testing.T) {
	mem := newMem(8, testRecords...)
	addr, srv := start(t, mem, Options{})
	ctx := context.Background()
	cl, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sub, err := cl.Subscribe(ctx, "state.mode")
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if _, err := sub.Next(ctx); err == nil || !strings.Contains(err.Error(), "connection lost") {
		t.Errorf("Next after server close: %v", err)
	}
	if err := cl.Ping(ctx); err == nil {
		t.Error("ping after server close succeeded")
	}
}

func TestListenSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	// A stale socket (nobody listening) is replaced.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	l, err := Listen("unix://" + path)
	if err != nil {
		t.Fatalf("listen over stale socket: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "another instance") {
		t.Errorf("second listen: %v", err)
	}
	l.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after Close: %v", err)
	}
	os.WriteFile(path, nil, 0o600)
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("listen over a file: %v", err)
	}
	if _, err := SocketPath("tcp://127.0.0.1:1"); err == nil {
		t.Error("tcp address accepted")
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, key string
		want         bool
	}{
		{"a.b", "a.b", true}, {"a.b", "a.c", false}, {"a.*", "a.b", true}, {"a.*", "a.b.c", false},
		{"a.*", "a", false}, {"*.b", "a.b", true}, {"a.#", "a", true}, {"a.#", "a.b.c", true},
		{"#", "x.y", true}, {"a.*.c", "a.b.c", true}, {"a.*.c", "a.b.d", false}, {"a.#", "b", false},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.key); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.pattern, c.key, got)
		}
	}
	for _, bad := range []string{"", "a..b", "#.a", "a*", "a.b#"} {
		if ValidatePattern(bad) == nil {
			t.Errorf("ValidatePattern(%q) accepted", bad)
		}
	}
}

func isRemote(err error, code string) bool {
	var re *RemoteError
	return errors.As(err, &re) && re.Code == code
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met within 5s")
}

// TestSnapshotsOfEveryKind: a subscription starts with the newest value of every
// matched record that has one, rings included, then follows.
func TestSnapshotsOfEveryKind(t *testing.T) {
	mem := newMem(8, testRecords...)
	mem.produce("sensors.temp", json.RawMessage(`21`))
	mem.produce("state.mode", json.RawMessage(`"auto"`))
	addr, _ := start(t, mem, Options{})
	c := dialRaw(t, addr)
	c.send(`{"t":"sub","id":1,"topic":"#"}`)
	if f := c.read(); f.T != TagSubscribed {
		t.Fatalf("got %+v", f)
	}
	snaps := map[string]string{}
	for range 2 {
		f := c.read()
		if f.T != TagSnap {
			t.Fatalf("got %+v, want a snap", f)
		}
		snaps[f.Topic] = string(f.Data)
	}
	if snaps["sensors.temp"] != "21" || snaps["state.mode"] != `"auto"` {
		t.Errorf("snaps = %v", snaps)
	}
	mem.produce("sensors.temp", json.RawMessage(`22`))
	if f := c.read(); f.T != TagEvent || f.Topic != "sensors.temp" || string(f.Data) != "22" || f.Seq != 1 {
		t.Errorf("after the snaps got %+v, want event sensors.temp=22 seq 1 (the snaps must not repeat)", f)
	}
}
