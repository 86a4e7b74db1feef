package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"
)

// childEnv selects what a re-executed test binary does instead of running tests.
const childEnv = "AIMDB_OUTBOX_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	goleak.VerifyTestMain(m)
}

// logBuf collects what a Dir logs.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func testLogger(w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: w, Level: hclog.Debug})
}

func openDirT(t testing.TB, dir string) *Dir {
	t.Helper()
	d, err := OpenDir(dir, testLogger(io.Discard))
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func openT(t testing.TB, d *Dir, name string, opts Options) *Outbox {
	t.Helper()
	o, err := d.Open(name, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	return o
}

// seqPayload is a payload that names its seq, padded to size bytes (at least 8).
func seqPayload(seq uint64, size int) []byte {
	p := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(p, seq)
	for i := 8; i < len(p); i++ {
		p[i] = byte(seq) + byte(i)
	}
	return p
}

func checkPayload(t *testing.T, e Entry, size int) {
	t.Helper()
	if want := seqPayload(e.Seq, size); !bytes.Equal(e.Payload, want) {
		t.Fatalf("entry %d: payload %x, want %x", e.Seq, e.Payload, want)
	}
}

// appendN appends n values of size bytes in batches of batch and returns the last seq.
func appendN(t *testing.T, o *Outbox, n, batch, size int) uint64 {
	t.Helper()
	var last uint64
	for n > 0 {
		k := min(n, batch)
		next := o.LastSeq() + 1
		ps := make([][]byte, k)
		for i := range ps {
			ps[i] = seqPayload(next+uint64(i), size)
		}
		var err error
		if last, err = o.Append(ps); err != nil {
			t.Fatalf("Append: %v", err)
		}
		if want := next + uint64(k) - 1; last != want {
			t.Fatalf("Append returned %d, want %d", last, want)
		}
		n -= k
	}
	return last
}

// readAll reads every entry after after, in small pieces.
func readAll(t *testing.T, o *Outbox, after uint64) []Entry {
	t.Helper()
	var all []Entry
	for {
		es, err := o.Read(after, 7, 0)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(es) == 0 {
			return all
		}
		all = append(all, es...)
		after = es[len(es)-1].Seq
	}
}

// checkContiguous asserts es are seqs from..to in order with their payloads.
func checkContiguous(t *testing.T, es []Entry, from, to uint64, size int) {
	t.Helper()
	if uint64(len(es)) != to-from+1 {
		t.Fatalf("%d entries, want %d (seqs %d..%d)", len(es), to-from+1, from, to)
	}
	for i, e := range es {
		if e.Seq != from+uint64(i) {
			t.Fatalf("entry %d has seq %d, want %d", i, e.Seq, from+uint64(i))
		}
		checkPayload(t, e, size)
	}
}

func TestFIFOAndSeqContinueAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	const name = "sensors.temp -> mqtt://sensors/temp"
	d := openDirT(t, dir)
	o := openT(t, d, name, Options{})
	if last := appendN(t, o, 100, 9, 100); last != 100 {
		t.Fatalf("last seq %d, want 100", last)
	}
	checkContiguous(t, readAll(t, o, 0), 1, 100, 100)
	if err := o.Remove(30); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d = openDirT(t, dir)
	o = openT(t, d, name, Options{})
	if got := o.LastSeq(); got != 100 {
		t.Fatalf("LastSeq after reopen %d, want 100", got)
	}
	checkContiguous(t, readAll(t, o, 0), 31, 100, 100)
	if last := appendN(t, o, 50, 50, 100); last != 150 {
		t.Fatalf("last seq %d, want 150", last)
	}
	checkContiguous(t, readAll(t, o, 0), 31, 150, 100)
	// Seqs are never reused, even after everything was removed.
	if err := o.Remove(150); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil { // closes o too
		t.Fatal(err)
	}
	d = openDirT(t, dir)
	o = openT(t, d, name, Options{})
	if msgs, b := o.Depth(); msgs != 0 || b != 0 {
		t.Fatalf("Depth (%d, %d) after removing all, want (0, 0)", msgs, b)
	}
	if last := appendN(t, o, 1, 1, 100); last != 151 {
		t.Fatalf("first seq after emptying %d, want 151", last)
	}
}

func TestReadLimits(t *testing.T) {
	d := openDirT(t, t.TempDir())
	o := openT(t, d, "limits", Options{})
	if es, err := o.Read(0, 10, 10); err != nil || len(es) != 0 {
		t.Fatalf("Read on empty: %v, %v", es, err)
	}
	appendN(t, o, 10, 10, 100)
	es, err := o.Read(0, 3, 0)
	if err != nil || len(es) != 3 || es[0].Seq != 1 {
		t.Fatalf("Read max 3 msgs: %d entries, %v", len(es), err)
	}
	if es, _ = o.Read(2, 0, 250); len(es) != 2 || es[0].Seq != 3 {
		t.Fatalf("Read max 250 bytes after 2: %d entries, want 2 from seq 3", len(es))
	}
	// One entry larger than maxBytes still comes.
	if es, _ = o.Read(0, 0, 10); len(es) != 1 || es[0].Seq != 1 {
		t.Fatalf("Read max 10 bytes: %d entries, want the first", len(es))
	}
	if es, _ = o.Read(10, 0, 0); len(es) != 0 {
		t.Fatalf("Read after the last: %d entries", len(es))
	}
	// Payloads belong to the caller: changing or growing one leaves the others and
	// the store alone.
	es, _ = o.Read(0, 2, 0)
	es[0].Payload = append(es[0].Payload, 1, 2, 3)
	es[1].Payload[0] ^= 0xff
	again, _ := o.Read(0, 2, 0)
	checkPayload(t, again[0], 100)
	checkPayload(t, again[1], 100)
	// Removed entries never come back from Read, whatever after is.
	if err := o.Remove(4); err != nil {
		t.Fatal(err)
	}
	if es, _ = o.Read(0, 1, 0); len(es) != 1 || es[0].Seq != 5 {
		t.Fatalf("Read(0) after Remove(4): %+v, want seq 5", es)
	}
}

func TestErrFullAtMaxBytes(t *testing.T) {
	d := openDirT(t, t.TempDir())
	o := openT(t, d, "small", Options{MaxBytes: 1000})
	appendN(t, o, 10, 4, 100) // exactly 1000 bytes
	if msgs, b := o.Depth(); msgs != 10 || b != 1000 {
		t.Fatalf("Depth (%d, %d), want (10, 1000)", msgs, b)
	}
	if _, err := o.Append([][]byte{{1}}); !errors.Is(err, ErrFull) {
		t.Fatalf("Append of 1 byte past max: %v, want ErrFull", err)
	}
	if msgs, b := o.Depth(); msgs != 10 || b != 1000 || o.LastSeq() != 10 {
		t.Fatalf("after ErrFull: Depth (%d, %d), LastSeq %d; want nothing appended", msgs, b, o.LastSeq())
	}
	checkContiguous(t, readAll(t, o, 0), 1, 10, 100)
	if err := o.Remove(3); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Append([][]byte{make([]byte, 200), make([]byte, 101)}); !errors.Is(err, ErrFull) {
		t.Fatalf("Append of 301 bytes into 300 free: %v, want ErrFull", err)
	}
	if last := appendN(t, o, 3, 3, 100); last != 13 {
		t.Fatalf("Append into the freed room: last %d, want 13", last)
	}
	if _, err := o.Append([][]byte{make([]byte, 1001)}); !errors.Is(err, ErrTooLarge) || errors.Is(err, ErrFull) {
		t.Fatalf("Append of 1001 bytes with max 1000: %v, want ErrTooLarge", err)
	}
	// A full outbox stays full across reopen.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openDirT(t, d.Path())
	o = openT(t, d, "small", Options{MaxBytes: 1000})
	if _, err := o.Append([][]byte{{1}}); !errors.Is(err, ErrFull) {
		t.Fatalf("after reopen: %v, want ErrFull", err)
	}
}

func TestDepthExact(t *testing.T) {
	d := openDirT(t, t.TempDir())
	o := openT(t, d, "depth", Options{})
	var want []int // payload size by seq-1
	var ps [][]byte
	for i := range 300 {
		size := (i * 37) % 211 // includes empty payloads
		want = append(want, size)
		ps = append(ps, make([]byte, size))
		if len(ps) == 11 || i == 299 {
			if _, err := o.Append(ps); err != nil {
				t.Fatal(err)
			}
			ps = nil
		}
	}
	depth := func(from int) (int, int64) {
		var b int64
		for _, s := range want[from:] {
			b += int64(s)
		}
		return len(want) - from, b
	}
	check := func(removed int) {
		t.Helper()
		wm, wb := depth(removed)
		if m, b := o.Depth(); m != wm || b != wb {
			t.Fatalf("Depth after removing %d: (%d, %d), want (%d, %d)", removed, m, b, wm, wb)
		}
	}
	check(0)
	for _, upTo := range []int{1, 1, 0, 57, 56, 200} {
		if err := o.Remove(uint64(upTo)); err != nil {
			t.Fatal(err)
		}
	}
	check(200)
	if err := o.Flush(); err != nil {
		t.Fatal(err)
	}
	check(200)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = openT(t, d, "depth", Options{})
	check(200)
	if err := o.Remove(1 << 40); err != nil { // past the last: removes all there is
		t.Fatal(err)
	}
	check(300)
}

func TestRemoveThenReopenDoesNotResurrect(t *testing.T) {
	dir := t.TempDir()
	d := openDirT(t, dir)
	o := openT(t, d, "r", Options{})
	appendN(t, o, 100, 10, 50)
	if err := o.Remove(60); err != nil {
		t.Fatal(err)
	}
	// A Remove followed by an Append is on disk with that Append.
	if err := o.Remove(70); err != nil {
		t.Fatal(err)
	}
	appendN(t, o, 1, 1, 50)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = openT(t, d, "r", Options{})
	checkContiguous(t, readAll(t, o, 0), 71, 101, 50)
	if m, _ := o.Depth(); m != 31 {
		t.Fatalf("Depth %d, want 31", m)
	}
}

func TestClosed(t *testing.T) {
	d := openDirT(t, t.TempDir())
	o := openT(t, d, "c", Options{})
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := o.Append([][]byte{{1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := o.Read(0, 1, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if err := o.Remove(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Remove after Close: %v", err)
	}
	o2 := openT(t, d, "c", Options{}) // closed, so it can be opened again
	if _, err := d.Open("c", Options{}); err == nil {
		t.Fatal("opening an open name again succeeded")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o2.Append([][]byte{{1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Dir.Close: %v", err)
	}
	if _, err := d.Open("x", Options{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Open after Dir.Close: %v", err)
	}
}

func TestWaitSignalsAppend(t *testing.T) {
	dir := t.TempDir()
	d := openDirT(t, dir)
	o := openT(t, d, "w", Options{})
	select {
	case <-o.Wait():
		t.Fatal("Wait signalled on an empty outbox")
	default:
	}
	appendN(t, o, 1, 1, 10)
	appendN(t, o, 1, 1, 10)
	<-o.Wait() // one signal for both (capacity 1)
	select {
	case <-o.Wait():
		t.Fatal("a second signal was queued")
	default:
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = openT(t, d, "w", Options{})
	<-o.Wait() // an outbox reopened with entries signals once
}

func TestLinkKey(t *testing.T) {
	a := linkKey("sensors.temp -> mqtt://sensors/temp")
	if !strings.HasPrefix(a, "sensors.temp_-_mqtt_sensors_temp-") || len(a) != len("sensors.temp_-_mqtt_sensors_temp-")+16 {
		t.Fatalf("linkKey = %q", a)
	}
	for _, n := range []string{"a/b", "a:b", "../../etc/passwd", "", strings.Repeat("x", 500), "ü"} {
		k := linkKey(n)
		if strings.ContainsAny(k, "/\\:") || strings.HasPrefix(k, ".") || len(k) > 57 {
			t.Fatalf("linkKey(%q) = %q is not a safe file name", n, k)
		}
	}
	if linkKey("a/b") == linkKey("a:b") {
		t.Fatal("two names share a key")
	}
}

func TestDirLockInProcess(t *testing.T) {
	dir := t.TempDir()
	d := openDirT(t, dir)
	_, err := OpenDir(dir, nil)
	if err == nil {
		t.Fatal("second OpenDir of the same directory succeeded")
	}
	if !strings.Contains(err.Error(), d.Path()) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("error %q names neither the directory nor the holder's pid", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2, err := OpenDir(dir, nil)
	if err != nil {
		t.Fatalf("OpenDir after Close: %v", err)
	}
	_ = d2.Close()
}

func TestOpenDirCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "data")
	d := openDirT(t, dir)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v, want 0700", fi.Mode().Perm())
	}
	if d.Path() != dir {
		t.Fatalf("Path %q, want %q", d.Path(), dir)
	}
}

func TestUnclaimed(t *testing.T) {
	dir := t.TempDir()
	d := openDirT(t, dir)
	for i, name := range []string{"kept", "gone-full", "gone-empty", "open-unclaimed"} {
		o := openT(t, d, name, Options{})
		if name != "gone-empty" {
			appendN(t, o, 5*(i+1), 5, 10)
		}
		if name != "open-unclaimed" {
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	orphans := d.Unclaimed([]string{"kept", "not-on-disk"})
	want := map[string]Orphan{
		"gone-full":      {Name: "gone-full", Msgs: 10, Bytes: 100},
		"open-unclaimed": {Name: "open-unclaimed", Msgs: 20, Bytes: 200},
	}
	if len(orphans) != len(want) {
		t.Fatalf("Unclaimed = %+v, want %d orphans", orphans, len(want))
	}
	for _, o := range orphans {
		w, ok := want[o.Name]
		if !ok || o.Msgs != w.Msgs || o.Bytes != w.Bytes || o.Err != nil || o.Path != filepath.Join(d.Path(), storeFile) {
			t.Fatalf("orphan %+v, want %+v", o, w)
		}
	}
	// Nothing was deleted: the orphan opens with its entries.
	o := openT(t, d, "gone-full", Options{})
	checkContiguous(t, readAll(t, o, 0), 1, 10, 10)
	if got := d.Unclaimed([]string{"kept", "gone-full", "open-unclaimed"}); len(got) != 0 {
		t.Fatalf("all claimed: Unclaimed = %+v", got)
	}
}

func TestConcurrentAppendReadRemove(t *testing.T) {
	d := openDirT(t, t.TempDir())
	o := openT(t, d, "concurrent", Options{MaxBytes: 64 << 10})
	const total = 5000
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	done := make(chan struct{})
	freed := make(chan struct{}, 1) // the publisher removed entries
	wg.Add(3)
	go func() { // appender, back-pressured by ErrFull
		defer wg.Done()
		var next uint64 = 1
		for next <= total {
			k := min(int(next%13)+1, total-int(next)+1)
			ps := make([][]byte, k)
			for i := range ps {
				ps[i] = seqPayload(next+uint64(i), 64)
			}
			_, err := o.Append(ps)
			if errors.Is(err, ErrFull) {
				select {
				case <-done:
					return
				case <-freed:
				}
				continue
			}
			if err != nil {
				errc <- err
				return
			}
			next += uint64(k)
		}
	}()
	go func() { // publisher: read, check, remove
		defer wg.Done()
		defer close(done)
		var after uint64
		for after < total {
			es, err := o.Read(after, 50, 4096)
			if err != nil {
				errc <- err
				return
			}
			if len(es) == 0 {
				<-o.Wait()
				continue
			}
			for _, e := range es {
				if e.Seq != after+1 || !bytes.Equal(e.Payload, seqPayload(e.Seq, 64)) {
					errc <- fmt.Errorf("read seq %d after %d (payload ok: %v)", e.Seq, after, bytes.Equal(e.Payload, seqPayload(e.Seq, 64)))
					return
				}
				after = e.Seq
			}
			if err := o.Remove(after); err != nil {
				errc <- err
				return
			}
			select {
			case freed <- struct{}{}:
			default:
			}
		}
	}()
	go func() { // watcher
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if m, b := o.Depth(); m < 0 || b < 0 || b > 64<<10 {
				errc <- fmt.Errorf("Depth (%d, %d)", m, b)
				return
			}
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if m, b := o.Depth(); m != 0 || b != 0 || o.LastSeq() != total {
		t.Fatalf("end: Depth (%d, %d), LastSeq %d", m, b, o.LastSeq())
	}
}

func TestOpenDirCompactsMostlyFreeStore(t *testing.T) {
	defer func(v int64) { compactMinSize = v }(compactMinSize)
	compactMinSize = 1 << 20
	dir := t.TempDir()
	d := openDirT(t, dir)
	o := openT(t, d, "big", Options{})
	appendN(t, o, 3000, 500, 1000)
	appendN(t, openT(t, d, "small", Options{}), 5, 5, 10)
	if err := o.Remove(2990); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(o.Path())
	if err != nil {
		t.Fatal(err)
	}
	d = openDirT(t, dir)
	after, err := os.Stat(o.Path())
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() >= before.Size()/4 {
		t.Fatalf("store of %d bytes holding 10 KB is %d bytes after OpenDir: not compacted", before.Size(), after.Size())
	}
	o = openT(t, d, "big", Options{})
	checkContiguous(t, readAll(t, o, 0), 2991, 3000, 1000)
	if last := appendN(t, o, 1, 1, 1000); last != 3001 {
		t.Fatalf("seq after compaction %d, want 3001", last)
	}
	checkContiguous(t, readAll(t, openT(t, d, "small", Options{}), 0), 1, 5, 10)
	if _, err := os.Stat(o.Path() + ".compact"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
	t.Logf("compacted %d -> %d bytes", before.Size(), after.Size())
}

// TestRemoveReachesDiskWithoutAppend: a Remove that no Append follows is written by a
// commit of its own; a copy of the file taken then (as a crash would leave it) opens
// without the removed entries.
func TestRemoveReachesDiskWithoutAppend(t *testing.T) {
	d := openDirT(t, t.TempDir())
	o := openT(t, d, "idle", Options{})
	appendN(t, o, 100, 10, 50)
	if err := o.Remove(50); err != nil {
		t.Fatal(err)
	}
	onDisk := func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.physRemoved == 50
	}
	for deadline := time.Now().Add(10 * time.Second); !onDisk(); {
		if time.Now().After(deadline) {
			t.Fatal("the Remove was not written within 10 s")
		}
		time.Sleep(time.Millisecond) // polls the state, as host's eventually does
	}
	b, err := os.ReadFile(o.Path())
	if err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	if err := os.WriteFile(filepath.Join(crashed, storeFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	d2 := openDirT(t, crashed)
	o2 := openT(t, d2, "idle", Options{})
	checkContiguous(t, readAll(t, o2, 0), 51, 100, 50)
}
