package knx

import (
	"context"
	"sync"
)

// fakeHost answers Latest with a set value or error and records what was asked.
type fakeHost struct {
	mu    sync.Mutex
	value []byte
	err   error
	reqs  []string
}

func (h *fakeHost) set(v []byte, err error) {
	h.mu.Lock()
	h.value, h.err = v, err
	h.mu.Unlock()
}

func (h *fakeHost) Latest(_ context.Context, resource string) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reqs = append(h.reqs, resource)
	return h.value, h.err
}

func (h *fakeHost) asked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.reqs...)
}
