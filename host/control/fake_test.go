package control

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

// memBackend is an in-memory Backend for the protocol tests: each watcher has its own
// bounded queue and counts what it had to skip, as the real database does.
type memBackend struct {
	mu       sync.Mutex
	recs     map[string]*memRecord
	watchCap int
}

type memRecord struct {
	info     RecordInfo
	value    json.RawMessage
	watchers map[*memWatcher]struct{}
}

func newMem(watchCap int, infos ...RecordInfo) *memBackend {
	m := &memBackend{recs: map[string]*memRecord{}, watchCap: watchCap}
	for _, i := range infos {
		m.recs[i.Key] = &memRecord{info: i, watchers: map[*memWatcher]struct{}{}}
	}
	return m
}

func (m *memBackend) Records() []RecordInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]RecordInfo, 0, len(m.recs))
	for _, r := range m.recs {
		out = append(out, r.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (m *memBackend) Get(key string) (json.RawMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.recs[key]
	if r == nil {
		return nil, fmt.Errorf("record %q: %w", key, ErrNotFound)
	}
	if r.value == nil {
		return nil, fmt.Errorf("record %q: %w", key, ErrNoValue)
	}
	return r.value, nil
}

func (m *memBackend) Set(key string, v json.RawMessage) error {
	m.mu.Lock()
	r := m.recs[key]
	m.mu.Unlock()
	if r == nil {
		return fmt.Errorf("record %q: %w", key, ErrNotFound)
	}
	if !r.info.Writable {
		return fmt.Errorf("record %q is not writable: %w", key, ErrDenied)
	}
	m.produce(key, v)
	return nil
}

// produce stores and fans out a value; it never blocks.
func (m *memBackend) produce(key string, v json.RawMessage) {
	m.mu.Lock()
	r := m.recs[key]
	r.value = v
	var wake []func()
	for w := range r.watchers {
		if f := w.push(v); f != nil {
			wake = append(wake, f)
		}
	}
	m.mu.Unlock()
	for _, f := range wake {
		f()
	}
}

func (m *memBackend) Watch(key string) (Watcher, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.recs[key]
	if r == nil {
		return nil, fmt.Errorf("record %q: %w", key, ErrNotFound)
	}
	if r.info.Buffer == "mailbox" {
		return nil, fmt.Errorf("record %q is a mailbox: %w", key, ErrDenied)
	}
	w := &memWatcher{m: m, r: r, max: m.watchCap}
	if r.info.Buffer == "single_latest" && r.value != nil {
		w.queue = append(w.queue, r.value) // as the database does: a late joiner gets the current value
	}
	r.watchers[w] = struct{}{}
	return w, nil
}

func (m *memBackend) watchers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.recs {
		n += len(r.watchers)
	}
	return n
}

func (m *memBackend) Links() []LinkStatus           { return nil }
func (m *memBackend) Connectors() []ConnectorStatus { return nil }

func (m *memBackend) Graph() Graph {
	return Graph{
		Nodes:     []GraphNode{{ID: "record:a", Kind: "record", Label: "a"}, {ID: "link:mqtt://t", Kind: "link_to"}},
		Edges:     []GraphEdge{{From: "record:a", To: "link:mqtt://t"}},
		TopoOrder: []string{"a"},
	}
}

// memWatcher queues up to max values; beyond that it drops and counts them.
type memWatcher struct {
	m *memBackend
	r *memRecord

	mu     sync.Mutex
	max    int
	queue  []json.RawMessage
	lagged uint64
	wake   func() // armed by Notify, cleared when called
}

// push queues v and returns the armed wake function, to be called outside m.mu.
func (w *memWatcher) push(v json.RawMessage) func() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) < w.max {
		w.queue = append(w.queue, v)
	} else {
		w.lagged++
	}
	f := w.wake
	w.wake = nil
	return f
}

func (w *memWatcher) TryNext() (json.RawMessage, uint64, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return nil, 0, false, nil
	}
	v := w.queue[0]
	w.queue = w.queue[1:]
	n := w.lagged
	w.lagged = 0
	return v, n, true, nil
}

func (w *memWatcher) Notify(wake func()) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) > 0 {
		return false
	}
	w.wake = wake
	return true
}

func (w *memWatcher) Close() {
	w.m.mu.Lock()
	delete(w.r.watchers, w)
	w.m.mu.Unlock()
}
