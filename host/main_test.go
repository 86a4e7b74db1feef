package host

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// testDir holds what the tests build (the plugins); it is made for this run of the
// test binary and removed after it, so checkouts and parallel runs never share it.
var testDir string

func TestMain(m *testing.M) { goleak.VerifyTestMain(withTestDir{m}) }

// withTestDir runs the tests with testDir in place.
type withTestDir struct{ m *testing.M }

func (w withTestDir) Run() int {
	dir, err := os.MkdirTemp("", "aimdb-host-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	testDir = dir
	return w.m.Run()
}

// Temperature is the value type most tests use.
type Temperature struct {
	Celsius float64 `json:"celsius"`
}

// startDB builds b, runs the DB in the background and returns it with a stop function
// that cancels Run and returns Run's error.
func startDB(t *testing.T, b *Builder) (*DB, func() error) {
	t.Helper()
	db, err := b.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.Run(ctx) }()
	var stopped bool
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		}
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return db, stop
}

// recv receives one value within a second.
func recv[T any](t *testing.T, c *Consumer[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := c.Recv(ctx)
	if err != nil {
		t.Fatalf("Recv from %q: %v", c.Key(), err)
	}
	return v
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
