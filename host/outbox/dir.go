package outbox

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// lockFileName is the file in a data directory that OpenDir locks.
const lockFileName = "aimdb.lock"

// backend stores the outboxes of one Dir.
type backend interface {
	// open opens or creates the outbox of the link named name under key (see
	// linkKey). moved is set when an unreadable store was renamed aside.
	open(key, name string) (eng engine, st state, path string, moved movedAside, err error)
	// movedAside tells of a store that OpenDir renamed aside.
	movedAside() movedAside
	// stored lists the outboxes on disk with what they hold, but for those whose
	// keys are in skip.
	stored(skip map[string]bool) []Orphan
	close() error
}

// Dir is a data directory holding the outboxes of one host process. Its methods are
// safe for concurrent use.
type Dir struct {
	path string
	log  hclog.Logger
	be   backend
	lock *os.File

	mu     sync.Mutex
	open   map[string]*Outbox // by key
	closed bool
}

// Orphan is an outbox on disk that holds entries and that no link of the current
// configuration opens.
type Orphan struct {
	Name  string // the link identity it was created for ("" if unreadable)
	Path  string // its store
	Msgs  int    // values it holds
	Bytes int64  // their payload bytes
	Err   error  // set when the store could not be read: Msgs and Bytes are then 0
}

// OpenDir opens the data directory dir, creating it (mode 0700) if it is missing, and
// locks it so that no other process uses it while this Dir is open: a second opener,
// in this process or another, gets an error naming dir and the holder's pid. Errors
// and moved-aside stores are logged to log (nil: nowhere).
func OpenDir(dir string, log hclog.Logger) (*Dir, error) {
	return openDir(dir, log, newBoltStore)
}

func openDir(dir string, log hclog.Logger, newBackend func(string, hclog.Logger) (backend, error)) (*Dir, error) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: data directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: data directory: %w", err)
	}
	lock, err := lockDir(abs)
	if err != nil {
		return nil, err
	}
	be, err := newBackend(abs, log)
	if err != nil {
		_ = unlockDir(lock)
		return nil, err
	}
	return &Dir{path: abs, log: log, be: be, lock: lock, open: map[string]*Outbox{}}, nil
}

// MovedAside reports the unreadable store that OpenDir renamed aside before it started
// a new one: its old path, its new path and the cause. All are empty when nothing was
// moved. Every outbox of the Dir reports the same.
func (d *Dir) MovedAside() (from, to string, cause error) {
	m := d.be.movedAside()
	return m.From, m.To, m.Cause
}

// Path is the data directory's absolute path.
func (d *Dir) Path() string { return d.path }

// Open opens the outbox of the link named name, creating it empty if it does not
// exist. name is any string that stays the same for the link across restarts, such as
// "sensors.temp -> mqtt://sensors/temp"; reopening it finds the entries left by the
// last run. A store that cannot be read is renamed aside, logged at ERROR and reported
// by MovedAside, and the outbox starts empty. One name can be open once at a time.
func (d *Dir) Open(name string, opts Options) (*Outbox, error) {
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("outbox %q: negative MaxBytes %d", name, opts.MaxBytes)
	}
	key := linkKey(name)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	if _, ok := d.open[key]; ok {
		return nil, fmt.Errorf("outbox %q is already open", name)
	}
	eng, st, path, moved, err := d.be.open(key, name)
	if err != nil {
		return nil, err
	}
	o := newOutbox(d, name, key, path, opts, eng, st)
	o.moved = moved
	d.open[key] = o
	return o, nil
}

func (d *Dir) forget(o *Outbox) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.open[o.key] == o {
		delete(d.open, o.key)
	}
}

// Unclaimed lists the outboxes on disk that hold entries and that no name in claimed
// opens, as after a configuration change: the host logs them. A store that cannot be
// read is listed with Err set. Nothing is deleted.
func (d *Dir) Unclaimed(claimed []string) []Orphan {
	skip := map[string]bool{}
	for _, n := range claimed {
		skip[linkKey(n)] = true
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	var out []Orphan
	for key, o := range d.open {
		if !skip[key] {
			if msgs, bytes := o.Depth(); msgs > 0 {
				out = append(out, Orphan{Name: o.name, Path: o.path, Msgs: msgs, Bytes: bytes})
			}
		}
		skip[key] = true
	}
	d.mu.Unlock()
	for _, o := range d.be.stored(skip) {
		if o.Msgs > 0 || o.Err != nil {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b Orphan) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Close closes every outbox still open, then the store and the directory's lock.
func (d *Dir) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	var open []*Outbox
	for _, o := range d.open {
		open = append(open, o)
	}
	d.mu.Unlock()
	var first error
	for _, o := range open {
		if err := o.Close(); err != nil && first == nil {
			first = err
		}
	}
	if err := d.be.close(); err != nil && first == nil {
		first = err
	}
	if err := unlockDir(d.lock); err != nil && first == nil {
		first = err
	}
	return first
}

// linkKey maps a link name to the key of its outbox in the store: the name's
// letters, digits, '.', '-' and '_' (each run of others becomes one '_'), at most 40
// of them, then '-' and 16 hex digits of the name's SHA-256. Different names get
// different keys; the same name always gets the same key.
func linkKey(name string) string {
	var b strings.Builder
	under := false // the last byte written is a '_' standing for other characters
	for _, r := range name {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
			under = false
		case !under:
			b.WriteByte('_')
			under = true
		}
	}
	sum := sha256.Sum256([]byte(name))
	return strings.TrimLeft(b.String(), ".") + "-" + hex.EncodeToString(sum[:8])
}
