package outbox

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storeWith creates the outbox name in dir holding n values of size bytes and returns
// its path.
func storeWith(t *testing.T, dir, name string, n, size int) string {
	t.Helper()
	d := openDirT(t, dir)
	o := openT(t, d, name, Options{})
	appendN(t, o, n, 64, size)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return o.Path()
}

// checkMovedAside opens name in dir and asserts that the store at path, whose content
// was want, was moved aside and reported, and that the outbox starts empty and works.
func checkMovedAside(t *testing.T, dir, name, path string, want []byte, cause string) {
	t.Helper()
	var lb logBuf
	d, err := OpenDir(dir, testLogger(&lb))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	o, err := d.Open(name, Options{})
	if err != nil {
		t.Fatalf("Open of an unreadable store: %v", err)
	}
	from, to, why := o.MovedAside()
	if from != path || !strings.HasPrefix(to, path+".corrupt-") || why == nil {
		t.Fatalf("MovedAside() = %q, %q, %v; want %q moved to %s.corrupt-…", from, to, why, path, path)
	}
	if !strings.Contains(why.Error(), cause) {
		t.Fatalf("cause %q does not say %q", why, cause)
	}
	t.Logf("moved aside: %v", why)
	kept, err := os.ReadFile(to)
	if err != nil || !bytes.Equal(kept, want) {
		t.Fatalf("the moved file is not the old store, byte for byte (%v)", err)
	}
	log := lb.String()
	if !strings.Contains(log, "[ERROR]") || !strings.Contains(log, path) || !strings.Contains(log, to) || !strings.Contains(log, why.Error()) {
		t.Fatalf("log does not give both paths and the cause at ERROR:\n%s", log)
	}
	if m, b := o.Depth(); m != 0 || b != 0 {
		t.Fatalf("fresh outbox Depth (%d, %d)", m, b)
	}
	if last := appendN(t, o, 3, 3, 20); last != 3 {
		t.Fatalf("fresh outbox: last seq %d, want 3", last)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	// The fresh store reopens cleanly, and nothing else is moved.
	o = openT(t, d, name, Options{})
	if from, _, _ := o.MovedAside(); from != "" {
		t.Fatalf("fresh store moved aside again")
	}
	checkContiguous(t, readAll(t, o, 0), 1, 3, 20)
	// The moved file is not a store the Dir lists.
	if got := d.Unclaimed([]string{name}); len(got) != 0 {
		t.Fatalf("Unclaimed = %+v", got)
	}
}

func TestCorruptGarbageFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileKey("g")+fileExt)
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
	path := filepath.Join(dir, FileKey("s")+fileExt)
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

func TestUnreadableOrphanIsListed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileKey("x")+fileExt)
	if err := os.WriteFile(path, bytes.Repeat([]byte{7}, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	d := openDirT(t, dir)
	got := d.Unclaimed(nil)
	if len(got) != 1 || got[0].Path != path || got[0].Err == nil {
		t.Fatalf("Unclaimed = %+v, want the unreadable %s with its error", got, path)
	}
	var ce *corruptError
	if !errors.As(got[0].Err, &ce) {
		t.Fatalf("error %v is not a corruption", got[0].Err)
	}
}

func TestNotAFileIsNotCorruption(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileKey("d")+fileExt)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	d := openDirT(t, dir)
	if _, err := d.Open("d", Options{}); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open with a directory at the store's path: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Fatalf("the directory was moved: %v", err)
	}
}
