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
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// fileExt ends the name of every outbox store in a data directory.
const fileExt = ".outbox"

// formatVersion is stored in every store's meta bucket.
const formatVersion = "1"

var (
	entriesBucket = []byte("entries")
	metaBucket    = []byte("meta")
	metaName      = []byte("name")
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

// boltBackend keeps each outbox in a bbolt file of its own, <dir>/<key>.outbox, with a
// bucket "entries" (key: seq as 8 bytes big-endian; value: CRC-32C of the payload,
// 4 bytes little-endian, then the payload; bucket sequence: the last seq appended)
// and a bucket "meta" (the link name and the format version).
type boltBackend struct {
	dir     string
	log     hclog.Logger
	commits atomic.Uint64 // transactions committed, for the benchmarks
}

func (be *boltBackend) commitCount() uint64 { return be.commits.Load() }

func newBoltBackend(dir string, log hclog.Logger) *boltBackend {
	return &boltBackend{dir: dir, log: log}
}

func (be *boltBackend) close() error { return nil }

func (be *boltBackend) open(key, name string) (engine, state, string, movedAside, error) {
	path := filepath.Join(be.dir, key+fileExt)
	var moved movedAside
	eng, st, err := openBoltFile(path, name, be.log, &be.commits)
	var ce *corruptError
	if errors.As(err, &ce) {
		to, merr := moveAside(path)
		if merr != nil {
			return nil, state{}, path, moved, fmt.Errorf("outbox %q: store %s is unreadable (%v) and cannot be moved aside: %w", name, path, err, merr)
		}
		moved = movedAside{From: path, To: to, Cause: err}
		be.log.Error("outbox: store unreadable, moved aside; the outbox starts empty and the old file is kept",
			"link", name, "path", path, "moved_to", to, "error", err)
		eng, st, err = openBoltFile(path, name, be.log, &be.commits)
	}
	if err != nil {
		return nil, state{}, path, moved, fmt.Errorf("outbox %q: %w", name, err)
	}
	return eng, st, path, moved, nil
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

// openBoltFile checks an existing store read-only, then opens it for writing. Errors
// that mean the file is not a readable store are *corruptError.
func openBoltFile(path, name string, log hclog.Logger, commits *atomic.Uint64) (*boltEngine, state, error) {
	var st state
	fresh := true
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, st, fmt.Errorf("store %s is not a regular file", path)
	} else if err == nil && fi.Size() > 0 {
		fresh = false
		s, stored, err := verifyBoltFile(path, fi.Size())
		if err != nil {
			return nil, st, err
		}
		if stored != "" && stored != name {
			return nil, st, fmt.Errorf("store %s belongs to link %q", path, stored)
		}
		st = s
		if fi.Size() >= compactMinSize && st.bytes < fi.Size()/4 {
			if to, err := compactFile(path); err != nil {
				log.Warn("outbox: cannot compact store; it goes on at its size", "link", name, "path", path, "error", err)
			} else {
				log.Info("outbox: store compacted", "link", name, "path", path, "bytes_before", fi.Size(), "bytes_after", to)
			}
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, st, err
	}

	var db *bolt.DB
	err := guard(func() (err error) {
		db, err = bolt.Open(path, 0o600, boltOptions())
		return err
	})
	if err != nil {
		return nil, st, classifyOpen(path, err)
	}
	err = guard(func() error {
		return db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(entriesBucket)
			if err != nil {
				return err
			}
			m, err := tx.CreateBucketIfNotExists(metaBucket)
			if err != nil {
				return err
			}
			if m.Get(metaName) == nil {
				if err := m.Put(metaName, []byte(name)); err != nil {
					return err
				}
				if err := m.Put(metaFormat, []byte(formatVersion)); err != nil {
					return err
				}
			}
			if fresh {
				st = state{last: b.Sequence(), first: b.Sequence() + 1}
			}
			return nil
		})
	})
	if err != nil {
		_ = db.Close()
		return nil, st, err
	}
	return &boltEngine{db: db, commits: commits}, st, nil
}

// compactMinSize is the file size from which Open compacts a store that is more than
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

// verifyBoltFile opens path read-only and checks it whole: the pages reach no further
// than the file, bbolt's consistency check passes, every key is a seq no higher than
// the last one appended and every value's CRC matches. It returns what the store holds
// and the link name stored in it.
func verifyBoltFile(path string, size int64) (st state, name string, err error) {
	var db *bolt.DB
	err = guard(func() (err error) {
		o := boltOptions()
		o.ReadOnly = true
		db, err = bolt.Open(path, 0o600, o)
		return err
	})
	if err != nil {
		return st, "", classifyOpen(path, err)
	}
	defer db.Close()
	err = guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			if reach := tx.Size(); reach > size {
				return corrupt("store %s is truncated: %d bytes, its pages reach byte %d", path, size, reach)
			}
			for cerr := range tx.Check() {
				if err == nil {
					err = corrupt("store %s fails bbolt's consistency check: %v", path, cerr)
				}
			}
			if err != nil {
				return err
			}
			if m := tx.Bucket(metaBucket); m != nil {
				name = string(m.Get(metaName))
				if f := m.Get(metaFormat); f != nil && string(f) != formatVersion {
					return corrupt("store %s has format %q, this aimdb reads %q", path, f, formatVersion)
				}
			}
			st, err = scanBucket(tx.Bucket(entriesBucket))
			if err != nil {
				return corrupt("store %s: %v", path, err)
			}
			return nil
		})
	})
	return st, name, err
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

// boltEngine is one outbox in a bbolt file of its own.
type boltEngine struct {
	db      *bolt.DB
	commits *atomic.Uint64
}

func (e *boltEngine) commit(first uint64, payloads [][]byte, delUpTo uint64) error {
	e.commits.Add(1)
	return guard(func() error {
		return e.db.Update(func(tx *bolt.Tx) error {
			return commitBucket(tx.Bucket(entriesBucket), first, payloads, delUpTo)
		})
	})
}

func (e *boltEngine) read(from uint64, maxMsgs, maxBytes int) (es []Entry, err error) {
	err = guard(func() error {
		return e.db.View(func(tx *bolt.Tx) error {
			es, err = readBucket(tx.Bucket(entriesBucket), from, maxMsgs, maxBytes)
			return err
		})
	})
	return es, err
}

func (e *boltEngine) span(from, upTo uint64) (msgs int, bytes int64, err error) {
	err = guard(func() error {
		return e.db.View(func(tx *bolt.Tx) error {
			msgs, bytes = spanBucket(tx.Bucket(entriesBucket), from, upTo)
			return nil
		})
	})
	return msgs, bytes, err
}

func (e *boltEngine) close() error { return e.db.Close() }

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

// readBucket copies the entries from seq from on, within the limits of Read.
func readBucket(b *bolt.Bucket, from uint64, maxMsgs, maxBytes int) ([]Entry, error) {
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

// stored lists every store in the directory except those in skip.
func (be *boltBackend) stored(skip map[string]bool) []Orphan {
	paths, _ := filepath.Glob(filepath.Join(be.dir, "*"+fileExt))
	var out []Orphan
	for _, path := range paths {
		key := strings.TrimSuffix(filepath.Base(path), fileExt)
		if skip[key] {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		o := Orphan{Path: path}
		if fi.Size() > 0 {
			st, name, err := verifyBoltFile(path, fi.Size())
			o.Name, o.Msgs, o.Bytes, o.Err = name, st.msgs, st.bytes, err
		}
		out = append(out, o)
	}
	return out
}
