package outbox

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storeWith creates a store in dir whose outbox name holds n values of size bytes,
// and another outbox "other" that holds one, and returns the store's path.
func storeWith(t *testing.T, dir, name string, n, size int) string {
	t.Helper()
	d := openDirT(t, dir)
	o := openT(t, d, name, Options{})
	appendN(t, o, n, 64, size)
	appendN(t, openT(t, d, "other", Options{}), 1, 1, size)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return o.Path()
}

// checkMovedAside opens dir and asserts that the store at path, whose content was want,
// was moved aside and reported for the Dir and each outbox, and that the outboxes
// start empty and work.
func checkMovedAside(t *testing.T, dir, name, path string, want []byte, cause string) {
	t.Helper()
	var lb logBuf
	d, err := OpenDir(dir, testLogger(&lb))
	if err != nil {
		t.Fatalf("OpenDir with an unreadable store: %v", err)
	}
	defer d.Close()
	from, to, why := d.MovedAside()
	if from != path || !strings.HasPrefix(to, path+".corrupt-") || why == nil {
		t.Fatalf("Dir.MovedAside() = %q, %q, %v; want %q moved to %s.corrupt-…", from, to, why, path, path)
	}
	if !strings.Contains(why.Error(), cause) {
		t.Fatalf("cause %q does not say %q", why, cause)
	}
	t.Logf("moved aside: %v", why)
	for _, n := range []string{name, "other"} {
		o := openT(t, d, n, Options{})
		if f, tt, w := o.MovedAside(); f != from || tt != to || w != why {
			t.Fatalf("outbox %q: MovedAside() = %q, %q, %v; want the Dir's", n, f, tt, w)
		}
		if m, b := o.Depth(); m != 0 || b != 0 || o.LastSeq() != 0 {
			t.Fatalf("fresh outbox %q: Depth (%d, %d), LastSeq %d", n, m, b, o.LastSeq())
		}
	}
	kept, err := os.ReadFile(to)
	if err != nil || !bytes.Equal(kept, want) {
		t.Fatalf("the moved file is not the old store, byte for byte (%v)", err)
	}
	log := lb.String()
	if !strings.Contains(log, "[ERROR]") || !strings.Contains(log, path) || !strings.Contains(log, to) || !strings.Contains(log, why.Error()) {
		t.Fatalf("log does not give both paths and the cause at ERROR:\n%s", log)
	}
	o := d.open[linkKey(name)]
	if last := appendN(t, o, 3, 3, 20); last != 3 {
		t.Fatalf("fresh outbox: last seq %d, want 3", last)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// The new store reopens cleanly, and the moved file is not read again.
	d = openDirT(t, dir)
	if from, _, _ := d.MovedAside(); from != "" {
		t.Fatalf("new store moved aside again")
	}
	o = openT(t, d, name, Options{})
	if from, _, _ := o.MovedAside(); from != "" {
		t.Fatalf("new store reported as moved aside")
	}
	checkContiguous(t, readAll(t, o, 0), 1, 3, 20)
	if got := d.Unclaimed([]string{name}); len(got) != 0 {
		t.Fatalf("Unclaimed = %+v", got)
	}
}

func TestCorruptGarbageFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, storeFile)
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = byte(rand.IntN(256))
	}
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	checkMovedAside(t, dir, "g", path, junk, "invalid database")
}

func TestCorruptShortFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, storeFile)
	junk := []byte("not a store")
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	checkMovedAside(t, dir, "s", path, junk, "cannot be opened")
}

// bothMetas changes the byte at off in both meta pages of a bbolt file (pages 0 and 1
// of 4 KiB; each meta starts after a 16-byte page header).
func bothMetas(t *testing.T, path string, off int) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[16+off] ^= 0x5a
	b[4096+16+off] ^= 0x5a
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCorruptBadMagic(t *testing.T) {
	dir := t.TempDir()
	path := storeWith(t, dir, "m", 100, 100)
	b := bothMetas(t, path, 0) // magic
	checkMovedAside(t, dir, "m", path, b, "invalid database")
}

func TestCorruptMetaChecksum(t *testing.T) {
	dir := t.TempDir()
	path := storeWith(t, dir, "c", 100, 100)
	b := bothMetas(t, path, 56) // txid: covered by the checksum only
	checkMovedAside(t, dir, "c", path, b, "checksum error")
}

func TestCorruptTruncatedFile(t *testing.T) {
	dir := t.TempDir()
	path := storeWith(t, dir, "t", 20000, 100)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = b[:len(b)/2]
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	checkMovedAside(t, dir, "t", path, b, "truncated")
}

func TestCorruptPayload(t *testing.T) {
	dir := t.TempDir()
	path := storeWith(t, dir, "p", 100, 100)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Change every copy of value 50's payload (free pages may hold old copies).
	p := seqPayload(50, 100)
	n := 0
	for i := bytes.Index(b, p); i >= 0; i = bytes.Index(b, p) {
		b[i+50] ^= 0xff
		n++
	}
	if n == 0 {
		t.Fatal("payload not found in the file")
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	checkMovedAside(t, dir, "p", path, b, "entry 50: checksum")
}

func TestCorruptPageHeaders(t *testing.T) {
	dir := t.TempDir()
	path := storeWith(t, dir, "h", 2000, 100)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Scribble over the header of every page but the metas: bbolt panics on such
	// pages; the outbox must report them, not crash.
	for off := 2 * 4096; off+16 <= len(b); off += 4096 {
		for i := 8; i < 16; i++ {
			b[off+i] = 0xee
		}
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	checkMovedAside(t, dir, "h", path, b, "")
}

func TestNotAFileIsNotCorruption(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, storeFile)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first failure leaves the directory unlocked
		_, err := OpenDir(dir, nil)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("OpenDir with a directory at the store's path: %v", err)
		}
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Fatalf("the directory was moved: %v", err)
	}
}
