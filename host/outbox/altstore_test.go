package outbox

// The stores that BenchmarkOutbox compares with the one that ships (one bbolt file for
// every link, with group commit): one bbolt file per link, and one pebble store for
// every link. They live in a _test.go file so that they never reach a binary; they
// skip what only the shipped store needs (corruption handling, listing orphans).

import (
	"testing"

	"encoding/binary"
	"path/filepath"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/go-hclog"
	bolt "go.etcd.io/bbolt"
)

// backends are the stores the benchmarks compare, by name.
var backends = []struct {
	name string
	new  func(dir string, log hclog.Logger) (backend, error)
}{
	{"bolt-shared", newBoltStore},
	{"bolt-file-per-link", newBoltFiles},
	{"pebble-shared", newPebbleShared},
}

// --- one bbolt file per link, <dir>/<key>.outbox, with the layout of links/<key> ---

type boltFiles struct {
	dir     string
	commits atomic.Uint64
}

func newBoltFiles(dir string, _ hclog.Logger) (backend, error) { return &boltFiles{dir: dir}, nil }

func (s *boltFiles) open(key, _ string) (engine, state, string, movedAside, error) {
	path := filepath.Join(s.dir, key+".outbox")
	db, err := bolt.Open(path, 0o600, boltOptions())
	if err != nil {
		return nil, state{}, path, movedAside{}, err
	}
	var st state
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(entriesBucket)
		if err != nil {
			return err
		}
		st, err = scanBucket(b)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, state{}, path, movedAside{}, err
	}
	return &boltFile{db: db, commits: &s.commits}, st, path, movedAside{}, nil
}

func (s *boltFiles) movedAside() movedAside          { return movedAside{} }
func (s *boltFiles) stored(map[string]bool) []Orphan { return nil }
func (s *boltFiles) close() error                    { return nil }
func (s *boltFiles) commitCount() uint64             { return s.commits.Load() }

// boltFile is one link's file: each commit is a transaction (and fsync) of its own.
type boltFile struct {
	db      *bolt.DB
	commits *atomic.Uint64
}

func (e *boltFile) commit(first uint64, payloads [][]byte, delUpTo uint64) error {
	e.commits.Add(1)
	return e.db.Update(func(tx *bolt.Tx) error {
		return commitBucket(tx.Bucket(entriesBucket), first, payloads, delUpTo)
	})
}

func (e *boltFile) read(from, upTo uint64, maxMsgs, maxBytes int) (es []Entry, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
		es, err = readBucket(tx.Bucket(entriesBucket), from, upTo, maxMsgs, maxBytes)
		return err
	})
	return es, err
}

func (e *boltFile) span(from, upTo uint64) (msgs int, bytes int64, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
		msgs, bytes = spanBucket(tx.Bucket(entriesBucket), from, upTo)
		return nil
	})
	return msgs, bytes, err
}

func (e *boltFile) close() error { return e.db.Close() }

// --- one pebble store for every link, keys prefixed by the link ---
//
// Keys: <link key> 0x00 'd' <seq, 8 bytes big-endian> for entries (value: payload),
// <link key> 0x00 'm' for the last seq appended. Removes are range deletions in the
// next append's batch. Pebble's WAL groups the syncs of concurrent commits.

type pebbleShared struct {
	path string
	db   *pebble.DB
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)         {}
func (quietLogger) Errorf(string, ...any)        {}
func (quietLogger) Fatalf(f string, args ...any) { panic(f) }

func newPebbleShared(dir string, _ hclog.Logger) (backend, error) {
	path := filepath.Join(dir, "pebble")
	db, err := pebble.Open(path, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, err
	}
	return &pebbleShared{path: path, db: db}, nil
}

func (s *pebbleShared) open(key, _ string) (engine, state, string, movedAside, error) {
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

func (s *pebbleShared) movedAside() movedAside          { return movedAside{} }
func (s *pebbleShared) stored(map[string]bool) []Orphan { return nil }
func (s *pebbleShared) close() error                    { return s.db.Close() }

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

func (e *pebbleEngine) read(from, upTo uint64, maxMsgs, maxBytes int) ([]Entry, error) {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: e.dataKey(from), UpperBound: e.dataKey(upTo + 1)})
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
