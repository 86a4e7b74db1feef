package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// formatVersion is stored in every store's meta bucket.
const formatVersion = "1"

var (
	entriesBucket = []byte("entries")
	metaBucket    = []byte("meta")
	metaFormat    = []byte("format")
	castagnoli    = crc32.MakeTable(crc32.Castagnoli)
)

// boltOptions are the options of every store.
//
// The free page list is written by every commit (NoFreelistSync false): without it,
// bbolt rebuilds the list at open in a goroutine of its own that panics, beyond our
// recover, on a corrupt page.
func boltOptions() *bolt.Options {
	return &bolt.Options{
		Timeout:      time.Second,
		FreelistType: bolt.FreelistMapType,
	}
}

// corruptError marks a store that cannot be opened or read.
type corruptError struct{ err error }

func (e *corruptError) Error() string { return e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

func corrupt(format string, args ...any) error {
	return &corruptError{fmt.Errorf(format, args...)}
}

// guard runs f, turning a panic of bbolt (which panics on pages it cannot make sense
// of) and a fault on the memory-mapped file (a page past the end of a truncated
// file) into a corruptError.
func guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = corrupt("store unreadable: %v", r)
		}
	}()
	return f()
}

// moveAside renames path to path.corrupt-<UTC time>, with a counter if that exists.
func moveAside(path string) (string, error) {
	base := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
	to := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, to); err != nil {
		return "", err
	}
	return to, nil
}

// compactMinSize is the file size from which OpenDir compacts a store that is more than
// three quarters free, as after a long outage was sent: a bbolt file never shrinks.
var compactMinSize int64 = 64 << 20

// compactFile copies the store at path into a new file, path.compact, and renames that
// over path. A crash leaves either file whole: the old one until the rename, the new
// one after it; a leftover path.compact is removed by the next try.
func compactFile(path string) (size int64, err error) {
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	err = guard(func() error {
		ro := boltOptions()
		ro.ReadOnly = true
		src, err := bolt.Open(path, 0o600, ro)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := bolt.Open(tmp, 0o600, boltOptions())
		if err != nil {
			return err
		}
		if err := bolt.Compact(dst, src, 16<<20); err != nil {
			_ = dst.Close()
			return err
		}
		return dst.Close() // every Compact transaction was fsync'd
	})
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return 0, err
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil { // make the rename durable
		_ = d.Sync()
		_ = d.Close()
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// classifyOpen makes err a corruptError unless it is about the file system or the
// file lock rather than the file's content.
func classifyOpen(path string, err error) error {
	var pe *fs.PathError
	var ce *corruptError
	switch {
	case errors.As(err, &ce):
		return err
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("store %s is locked by another process: %w", path, err)
	case errors.As(err, &pe) && pe.Path == path:
		return err
	}
	return &corruptError{fmt.Errorf("store %s cannot be opened: %w", path, err)}
}

// scanBucket reads every entry of b (nil: an empty store) and checks it.
func scanBucket(b *bolt.Bucket) (state, error) {
	var st state
	if b == nil {
		return state{first: 1}, nil
	}
	st.last = b.Sequence()
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			return st, fmt.Errorf("unexpected bucket %q in entries", k)
		}
		seq, p, err := decodeEntry(k, v)
		if err != nil {
			return st, err
		}
		if seq > st.last {
			return st, fmt.Errorf("entry %d is after the last seq appended, %d", seq, st.last)
		}
		if st.msgs == 0 {
			st.first = seq
		}
		st.msgs++
		st.bytes += int64(len(p))
	}
	if st.msgs == 0 {
		st.first = st.last + 1
	}
	return st, nil
}

func decodeEntry(k, v []byte) (uint64, []byte, error) {
	if len(k) != 8 {
		return 0, nil, fmt.Errorf("entry key %x is not 8 bytes", k)
	}
	seq := binary.BigEndian.Uint64(k)
	if len(v) < 4 {
		return seq, nil, fmt.Errorf("entry %d: value of %d bytes has no checksum", seq, len(v))
	}
	p := v[4:]
	if got, want := crc32.Checksum(p, castagnoli), binary.LittleEndian.Uint32(v); got != want {
		return seq, nil, fmt.Errorf("entry %d: checksum %08x, stored %08x", seq, got, want)
	}
	return seq, p, nil
}

// commitBucket deletes the entries <= delUpTo and appends payloads from seq first.
func commitBucket(b *bolt.Bucket, first uint64, payloads [][]byte, delUpTo uint64) error {
	if delUpTo > 0 {
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= delUpTo; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
	}
	if len(payloads) == 0 {
		return nil
	}
	// Appends go to the right edge of the tree: fill pages completely.
	b.FillPercent = 1.0
	size := 0
	for _, p := range payloads {
		size += 12 + len(p)
	}
	// bbolt keeps the key and value slices until the commit: one buffer holds them all.
	buf := make([]byte, size)
	for i, p := range payloads {
		k := buf[:8:8]
		v := buf[8 : 12+len(p) : 12+len(p)]
		buf = buf[12+len(p):]
		binary.BigEndian.PutUint64(k, first+uint64(i))
		binary.LittleEndian.PutUint32(v, crc32.Checksum(p, castagnoli))
		copy(v[4:], p)
		if err := b.Put(k, v); err != nil {
			return err
		}
	}
	return b.SetSequence(first + uint64(len(payloads)) - 1)
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// readBucket copies the entries with from <= seq <= upTo, within the limits of Read.
func readBucket(b *bolt.Bucket, from, upTo uint64, maxMsgs, maxBytes int) ([]Entry, error) {
	type ref struct {
		seq uint64
		v   []byte
	}
	var refs []ref
	total := 0
	c := b.Cursor()
	for k, v := c.Seek(seqKey(from)); k != nil; k, v = c.Next() {
		if maxMsgs > 0 && len(refs) >= maxMsgs {
			break
		}
		if len(v) < 4 || len(k) != 8 {
			return nil, corrupt("entry %x: malformed", k)
		}
		if binary.BigEndian.Uint64(k) > upTo {
			break
		}
		n := len(v) - 4
		if maxBytes > 0 && len(refs) > 0 && total+n > maxBytes {
			break
		}
		refs = append(refs, ref{binary.BigEndian.Uint64(k), v})
		total += n
	}
	if len(refs) == 0 {
		return nil, nil
	}
	// One allocation holds every payload; each is capped so that appending to one
	// cannot overwrite the next.
	buf := make([]byte, total)
	es := make([]Entry, len(refs))
	for i, r := range refs {
		p := r.v[4:]
		if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(r.v) {
			return nil, corrupt("entry %d: checksum mismatch", r.seq)
		}
		n := copy(buf, p)
		es[i] = Entry{Seq: r.seq, Payload: buf[:n:n]}
		buf = buf[n:]
	}
	return es, nil
}

// spanBucket counts the entries with from <= seq <= upTo and their payload bytes.
func spanBucket(b *bolt.Bucket, from, upTo uint64) (msgs int, bytes int64) {
	c := b.Cursor()
	for k, v := c.Seek(seqKey(from)); k != nil && binary.BigEndian.Uint64(k) <= upTo; k, v = c.Next() {
		msgs++
		bytes += int64(len(v) - 4)
	}
	return msgs, bytes
}
