package outbox

// The stores that BenchmarkOutbox compares with the one that ships (one bbolt file per
// link): one bbolt file for every link with group commit, and one pebble store for
// every link. They live in a _test.go file so that they never reach a binary; they
// skip what only the shipped store needs (corruption handling, listing orphans).

import (
	"testing"

	"encoding/binary"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/go-hclog"
	bolt "go.etcd.io/bbolt"
)

// backends are the stores the benchmarks compare, by name.
var backends = []struct {
	name string
	new  func(dir string, log hclog.Logger) backend
}{
	{"bolt-file-per-link", func(dir string, log hclog.Logger) backend { return newBoltBackend(dir, log) }},
	{"bolt-shared", newBoltShared},
	{"pebble-shared", newPebbleShared},
}

// --- one bbolt file for every link, a bucket per link, group commit ---

type boltShared struct {
	db  *bolt.DB
	err error

	mu      sync.Mutex
	queue   []*groupOp
	leading bool
	commits atomic.Uint64
}

type groupOp struct {
	bucket   []byte
	first    uint64
	payloads [][]byte
	delUpTo  uint64
	done     chan error
}

func newBoltShared(dir string, _ hclog.Logger) backend {
	db, err := bolt.Open(filepath.Join(dir, "shared.bolt"), 0o600, boltOptions())
	return &boltShared{db: db, err: err}
}

func (s *boltShared) open(key, _ string) (engine, state, string, movedAside, error) {
	if s.err != nil {
		return nil, state{}, "", movedAside{}, s.err
	}
	var st state
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(key))
		if err != nil {
			return err
		}
		st, err = scanBucket(b)
		return err
	})
	return &boltSharedEngine{s: s, bucket: []byte(key)}, st, s.db.Path(), movedAside{}, err
}

func (s *boltShared) stored(map[string]bool) []Orphan { return nil }

func (s *boltShared) close() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}

// commit queues op and commits it with whatever else is queued, in one transaction:
// appends of different links share one fsync, with no delay when only one link is
// appending. The committer that finds no commit under way leads; when it is done, it
// hands the lead to the oldest op queued meanwhile, so that no committer waits for
// more than the transaction under way and its own.
func (s *boltShared) commit(op *groupOp) error {
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
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, op := range ops {
			if err := commitBucket(tx.Bucket(op.bucket), op.first, op.payloads, op.delUpTo); err != nil {
				return err
			}
		}
		return nil
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

// errLead tells a queued committer to lead the next group commit.
var errLead = errors.New("lead")

func (s *boltShared) commitCount() uint64 { return s.commits.Load() }

type boltSharedEngine struct {
	s      *boltShared
	bucket []byte
}

func (e *boltSharedEngine) commit(first uint64, payloads [][]byte, delUpTo uint64) error {
	return e.s.commit(&groupOp{bucket: e.bucket, first: first, payloads: payloads, delUpTo: delUpTo})
}

func (e *boltSharedEngine) read(from uint64, maxMsgs, maxBytes int) (es []Entry, err error) {
	err = e.s.db.View(func(tx *bolt.Tx) error {
		es, err = readBucket(tx.Bucket(e.bucket), from, maxMsgs, maxBytes)
		return err
	})
	return es, err
}

func (e *boltSharedEngine) span(from, upTo uint64) (msgs int, bytes int64, err error) {
	err = e.s.db.View(func(tx *bolt.Tx) error {
		msgs, bytes = spanBucket(tx.Bucket(e.bucket), from, upTo)
		return nil
	})
	return msgs, bytes, err
}

func (e *boltSharedEngine) close() error { return nil }

// --- one pebble store for every link, keys prefixed by the link ---
//
// Keys: <link key> 0x00 'd' <seq, 8 bytes big-endian> for entries (value: payload),
// <link key> 0x00 'm' for the last seq appended. Removes are range deletions in the
// next append's batch. Pebble's WAL groups the syncs of concurrent commits.

type pebbleShared struct {
	path string
	db   *pebble.DB
	err  error
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)         {}
func (quietLogger) Errorf(string, ...any)        {}
func (quietLogger) Fatalf(f string, args ...any) { panic(f) }

func newPebbleShared(dir string, _ hclog.Logger) backend {
	path := filepath.Join(dir, "pebble")
	db, err := pebble.Open(path, &pebble.Options{Logger: quietLogger{}})
	return &pebbleShared{path: path, db: db, err: err}
}

func (s *pebbleShared) open(key, _ string) (engine, state, string, movedAside, error) {
	if s.err != nil {
		return nil, state{}, "", movedAside{}, s.err
	}
	e := &pebbleEngine{db: s.db, prefix: append([]byte(key), 0)}
	st := state{}
	if v, closer, err := s.db.Get(e.metaKey()); err == nil {
		st.last = binary.BigEndian.Uint64(v)
		_ = closer.Close()
	} else if err != pebble.ErrNotFound {
		return nil, st, "", movedAside{}, err
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: e.dataKey(0), UpperBound: e.dataEnd()})
	if err != nil {
		return nil, st, "", movedAside{}, err
	}
	for it.First(); it.Valid(); it.Next() {
		if st.msgs == 0 {
			st.first = binary.BigEndian.Uint64(it.Key()[len(it.Key())-8:])
		}
		st.msgs++
		st.bytes += int64(len(it.Value()))
	}
	if st.msgs == 0 {
		st.first = st.last + 1
	}
	return e, st, s.path, movedAside{}, it.Close()
}

func (s *pebbleShared) stored(map[string]bool) []Orphan { return nil }

func (s *pebbleShared) close() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}

type pebbleEngine struct {
	db     *pebble.DB
	prefix []byte
}

func (e *pebbleEngine) dataKey(seq uint64) []byte {
	k := append(append(make([]byte, 0, len(e.prefix)+9), e.prefix...), 'd')
	return binary.BigEndian.AppendUint64(k, seq)
}

func (e *pebbleEngine) dataEnd() []byte { return append(append([]byte{}, e.prefix...), 'e') }
func (e *pebbleEngine) metaKey() []byte { return append(append([]byte{}, e.prefix...), 'm') }

func (e *pebbleEngine) commit(first uint64, payloads [][]byte, delUpTo uint64) error {
	b := e.db.NewBatch()
	defer b.Close()
	if delUpTo > 0 {
		if err := b.DeleteRange(e.dataKey(0), e.dataKey(delUpTo+1), nil); err != nil {
			return err
		}
	}
	for i, p := range payloads {
		if err := b.Set(e.dataKey(first+uint64(i)), p, nil); err != nil {
			return err
		}
	}
	if len(payloads) > 0 {
		last := binary.BigEndian.AppendUint64(nil, first+uint64(len(payloads))-1)
		if err := b.Set(e.metaKey(), last, nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

func (e *pebbleEngine) read(from uint64, maxMsgs, maxBytes int) ([]Entry, error) {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: e.dataKey(from), UpperBound: e.dataEnd()})
	if err != nil {
		return nil, err
	}
	var es []Entry
	total := 0
	for it.First(); it.Valid(); it.Next() {
		if maxMsgs > 0 && len(es) >= maxMsgs {
			break
		}
		v := it.Value()
		if maxBytes > 0 && len(es) > 0 && total+len(v) > maxBytes {
			break
		}
		k := it.Key()
		es = append(es, Entry{Seq: binary.BigEndian.Uint64(k[len(k)-8:]), Payload: append([]byte(nil), v...)})
		total += len(v)
	}
	return es, it.Close()
}

func (e *pebbleEngine) span(from, upTo uint64) (msgs int, bytes int64, err error) {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: e.dataKey(from), UpperBound: e.dataKey(upTo + 1)})
	if err != nil {
		return 0, 0, err
	}
	for it.First(); it.Valid(); it.Next() {
		msgs++
		bytes += int64(len(it.Value()))
	}
	return msgs, bytes, it.Close()
}

func (e *pebbleEngine) close() error { return nil }

// TestComparedStoresBehaveAlike holds every benchmarked store to the same basic
// contract, so that the benchmark compares stores that do the same work.
func TestComparedStoresBehaveAlike(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			dir := t.TempDir()
			d, err := openDir(dir, nil, be.new)
			if err != nil {
				t.Fatal(err)
			}
			a := openT(t, d, "a", Options{})
			c := openT(t, d, "c", Options{})
			appendN(t, a, 100, 7, 100)
			appendN(t, c, 10, 3, 100)
			checkContiguous(t, readAll(t, a, 0), 1, 100, 100)
			if err := a.Remove(40); err != nil {
				t.Fatal(err)
			}
			appendN(t, a, 5, 5, 100)
			if err := a.Remove(50); err != nil {
				t.Fatal(err)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			d, err = openDir(dir, nil, be.new)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			a = openT(t, d, "a", Options{})
			c = openT(t, d, "c", Options{})
			checkContiguous(t, readAll(t, a, 0), 51, 105, 100)
			checkContiguous(t, readAll(t, c, 0), 1, 10, 100)
			if m, b := a.Depth(); m != 55 || b != 5500 || a.LastSeq() != 105 {
				t.Fatalf("Depth (%d, %d), LastSeq %d", m, b, a.LastSeq())
			}
		})
	}
}
