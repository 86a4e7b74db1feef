// Package life owns the background goroutines of one connector instance: the SDK's
// BuildContext.Go starts them, and the runner (sdk/run) stops them and asks whether
// one panicked. It does not import package sdk, so both can use it.
package life

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// Group is the goroutines of one instance.
type Group struct {
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	panicked atomic.Pointer[string]
}

// New returns a group whose context lives until Stop.
func New() *Group {
	ctx, cancel := context.WithCancel(context.Background())
	return &Group{ctx: ctx, cancel: cancel}
}

// Context is cancelled by Stop.
func (g *Group) Context() context.Context { return g.ctx }

// Go runs f(ctx) in a goroutine of the group. A panic in f is recovered, logged to
// log and remembered (see Panicked).
func (g *Group) Go(name string, log hclog.Logger, f func(context.Context)) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				msg := fmt.Sprintf("goroutine %q panicked: %v", name, r)
				g.panicked.Store(&msg)
				log.Error("connector goroutine panicked", "goroutine", name, "panic", r, "stack", string(debug.Stack()))
			}
		}()
		f(g.ctx)
	}()
}

// Panicked returns what the first panicking goroutine left, or "".
func (g *Group) Panicked() string {
	if p := g.panicked.Load(); p != nil {
		return *p
	}
	return ""
}

// Stop cancels the group's context and waits for its goroutines until ctx ends; then
// it returns ctx's error.
func (g *Group) Stop(ctx context.Context) error {
	g.cancel()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
