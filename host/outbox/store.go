package outbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	bolt "go.etcd.io/bbolt"
)

// storeFile is the bbolt file in a data directory that holds its outboxes.
const storeFile = "outbox.bolt"

var (
	linksBucket = []byte("links")
	nameKey     = []byte("name")
)

// boltStore keeps every outbox of a Dir in one bbolt file, <dir>/outbox.bolt:
//
//	links/<key>/entries   key: seq, 8 bytes big-endian; value: CRC-32C of the payload
//	                      (4 bytes little-endian), then the payload; bucket sequence:
//	                      the last seq appended
//	links/<key> "name"    the link name
//	meta "format"         the format version
//
// Appends of different links that come while a commit is under way share the next
// commit and its fsync (group commit).
type boltStore struct {
	path  string
	log   hclog.Logger
	db    *bolt.DB
	moved movedAside

	mu       sync.Mutex
	verified map[string]state // what the check at open found, until the link opens
	queue    []*commitOp      // waiting for the next group commit
	leading  bool             // a group commit is under way
	commits  atomic.Uint64    // transactions committed, for the benchmarks
}

// linkInfo is what the check at open found of one link.
type linkInfo struct {
	name string
	st   state
}

// newBoltStore opens (creating) the data directory's store. One that cannot be read is
// renamed aside, logged at ERROR and reported by every outbox, and a new one started.
func newBoltStore(dir string, log hclog.Logger) (backend, error) {
	s := &boltStore{path: filepath.Join(dir, storeFile), log: log}
	links, err := s.openFile()
	var ce *corruptError
	if errors.As(err, &ce) {
		to, merr := moveAside(s.path)
		if merr != nil {
			return nil, fmt.Errorf("outbox: store %s is unreadable (%v) and cannot be moved aside: %w", s.path, err, merr)
		}
		s.moved = movedAside{From: s.path, To: to, Cause: err}
		log.Error("outbox: store unreadable, moved aside; every outbox starts empty and the old file is kept",
			"path", s.path, "moved_to", to, "error", err)
		links, err = s.openFile()
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	s.verified = map[string]state{}
	for key, li := range links {
		s.verified[key] = li.st
	}
	return s, nil
}

// openFile checks an existing store read-only, compacts it if it is mostly free, then
// opens it for writing. Errors that mean the file is not a readable store are
// *corruptError.
func (s *boltStore) openFile() (map[string]linkInfo, error) {
	var links map[string]linkInfo
	if fi, err := os.Stat(s.path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("store %s is not a regular file", s.path)
	} else if err == nil && fi.Size() > 0 {
		if links, err = verifyStore(s.path, fi.Size()); err != nil {
			return nil, err
		}
		var live int64
		for _, li := range links {
			live += li.st.bytes
		}
		if fi.Size() >= compactMinSize && live < fi.Size()/4 {
			if size, err := compactFile(s.path); err != nil {
				s.log.Warn("outbox: cannot compact store; it goes on at its size", "path", s.path, "error", err)
			} else {
				s.log.Info("outbox: store compacted", "path", s.path, "bytes_before", fi.Size(), "bytes_after", size)
			}
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	err := guard(func() (err error) {
		s.db, err = bolt.Open(s.path, 0o600, boltOptions())
		return err
	})
	if err != nil {
		return nil, classifyOpen(s.path, err)
	}
	err = guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			if _, err := tx.CreateBucketIfNotExists(linksBucket); err != nil {
				return err
			}
			m, err := tx.CreateBucketIfNotExists(metaBucket)
			if err != nil {
				return err
			}
			if m.Get(metaFormat) == nil {
				return m.Put(metaFormat, []byte(formatVersion))
			}
			return nil
		})
	})
	if err != nil {
		_ = s.db.Close()
		return nil, err
	}
	return links, nil
}

// verifyStore opens path read-only and checks it whole: the pages reach no further than
// the file, bbolt's consistency check passes, every key is a seq no higher than the
// last one appended and every value's CRC matches. It returns what each link holds.
func verifyStore(path string, size int64) (map[string]linkInfo, error) {
	var db *bolt.DB
	err := guard(func() (err error) {
		o := boltOptions()
		o.ReadOnly = true
		db, err = bolt.Open(path, 0o600, o)
		return err
	})
	if err != nil {
		return nil, classifyOpen(path, err)
	}
	defer db.Close()
	links := map[string]linkInfo{}
	err = guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			if reach := tx.Size(); reach > size {
				return corrupt("store %s is truncated: %d bytes, its pages reach byte %d", path, size, reach)
			}
			var first error
			for cerr := range tx.Check() {
				if first == nil {
					first = corrupt("store %s fails bbolt's consistency check: %v", path, cerr)
				}
			}
			if first != nil {
				return first
			}
			if m := tx.Bucket(metaBucket); m != nil {
				if f := m.Get(metaFormat); f != nil && string(f) != formatVersion {
					return corrupt("store %s has format %q, this aimdb reads %q", path, f, formatVersion)
				}
			}
			lb := tx.Bucket(linksBucket)
			if lb == nil {
				return nil
			}
			return lb.ForEachBucket(func(key []byte) error {
				b := lb.Bucket(key)
				st, err := scanBucket(b.Bucket(entriesBucket))
				if err != nil {
					return corrupt("store %s, link %s: %v", path, b.Get(nameKey), err)
				}
				links[string(key)] = linkInfo{name: string(b.Get(nameKey)), st: st}
				return nil
			})
		})
	})
	return links, err
}

func (s *boltStore) movedAside() movedAside { return s.moved }

func (s *boltStore) open(key, name string) (engine, state, string, movedAside, error) {
	s.mu.Lock()
	st, verified := s.verified[key]
	delete(s.verified, key)
	s.mu.Unlock()
	err := guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			lb, err := tx.Bucket(linksBucket).CreateBucketIfNotExists([]byte(key))
			if err != nil {
				return err
			}
			if stored := lb.Get(nameKey); stored == nil {
				if err := lb.Put(nameKey, []byte(name)); err != nil {
					return err
				}
			} else if string(stored) != name {
				return fmt.Errorf("store %s: link key %s belongs to link %q", s.path, key, stored)
			}
			b, err := lb.CreateBucketIfNotExists(entriesBucket)
			if err != nil {
				return err
			}
			if !verified { // a new link, or one opened before in this process
				if st, err = scanBucket(b); err != nil {
					return corrupt("store %s, link %s: %v", s.path, name, err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, state{}, s.path, s.moved, fmt.Errorf("outbox %q: %w", name, err)
	}
	return &boltLink{s: s, key: []byte(key)}, st, s.path, s.moved, nil
}

// stored lists the links in the store but for those in skip.
func (s *boltStore) stored(skip map[string]bool) []Orphan {
	var out []Orphan
	err := guard(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			lb := tx.Bucket(linksBucket)
			return lb.ForEachBucket(func(key []byte) error {
				if skip[string(key)] {
					return nil
				}
				b := lb.Bucket(key)
				msgs, bytes := spanBucket(b.Bucket(entriesBucket), 0, ^uint64(0))
				out = append(out, Orphan{Name: string(b.Get(nameKey)), Path: s.path, Msgs: msgs, Bytes: bytes})
				return nil
			})
		})
	})
	if err != nil {
		out = append(out, Orphan{Path: s.path, Err: err})
	}
	return out
}

func (s *boltStore) close() error { return s.db.Close() }

func (s *boltStore) commitCount() uint64 { return s.commits.Load() }

// commitOp is one link's part of a group commit.
type commitOp struct {
	key      []byte
	first    uint64
	payloads [][]byte
	delUpTo  uint64
	done     chan error
}

// errLead tells a queued committer to lead the next group commit.
var errLead = errors.New("lead the next commit")

// commit queues op and commits it with whatever else is queued, in one transaction and
// one fsync. The committer that finds no commit under way leads; when its commit is
// done, it hands the lead to the oldest op queued meanwhile. So no committer waits for
// more than the commit under way and its own, and one appending alone waits for
// nobody.
func (s *boltStore) commit(op *commitOp) error {
	op.done = make(chan error, 1)
	s.mu.Lock()
	s.queue = append(s.queue, op)
	if s.leading {
		s.mu.Unlock()
		if err := <-op.done; err != errLead {
			return err
		}
		s.mu.Lock()
	}
	s.leading = true
	ops := s.queue
	s.queue = nil
	s.mu.Unlock()

	s.commits.Add(1)
	err := guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			links := tx.Bucket(linksBucket)
			for _, op := range ops {
				if err := commitBucket(links.Bucket(op.key).Bucket(entriesBucket), op.first, op.payloads, op.delUpTo); err != nil {
					return fmt.Errorf("link %s: %w", op.key, err)
				}
			}
			return nil
		})
	})

	s.mu.Lock()
	if len(s.queue) > 0 {
		s.queue[0].done <- errLead
	} else {
		s.leading = false
	}
	s.mu.Unlock()
	for _, o := range ops {
		if o != op {
			o.done <- err
		}
	}
	return err
}

// boltLink is one outbox in the store.
type boltLink struct {
	s   *boltStore
	key []byte
}

func (l *boltLink) commit(first uint64, payloads [][]byte, delUpTo uint64) error {
	return l.s.commit(&commitOp{key: l.key, first: first, payloads: payloads, delUpTo: delUpTo})
}

func (l *boltLink) view(f func(b *bolt.Bucket) error) error {
	return guard(func() error {
		return l.s.db.View(func(tx *bolt.Tx) error {
			return f(tx.Bucket(linksBucket).Bucket(l.key).Bucket(entriesBucket))
		})
	})
}

func (l *boltLink) read(from, upTo uint64, maxMsgs, maxBytes int) (es []Entry, err error) {
	err = l.view(func(b *bolt.Bucket) error {
		es, err = readBucket(b, from, upTo, maxMsgs, maxBytes)
		return err
	})
	return es, err
}

func (l *boltLink) span(from, upTo uint64) (msgs int, bytes int64, err error) {
	err = l.view(func(b *bolt.Bucket) error {
		msgs, bytes = spanBucket(b, from, upTo)
		return nil
	})
	return msgs, bytes, err
}

func (l *boltLink) close() error { return nil }
