package connect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/loopback"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
)

// Plugin directories built once per test binary, removed when it ends.
var (
	pluginsDir       string // the loopback plugin
	brokenPluginsDir string // the crash plugin beside a loopback plugin
)

func TestMain(m *testing.M) {
	code := func() int {
		tmp, err := os.MkdirTemp("", "aimdb-connect-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		pluginsDir, brokenPluginsDir = filepath.Join(tmp, "plugins"), filepath.Join(tmp, "broken")
		for dir, names := range map[string][]string{pluginsDir: {"loopback"}, brokenPluginsDir: {"crash", "loopback"}} {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			if err := testbuild.Plugins(dir, names...); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		code := m.Run()
		if code == 0 {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, "goleak:", err)
				return 1
			}
		}
		return code
	}()
	os.Exit(code)
}

// Temperature is the value type most tests use.
type Temperature struct {
	Celsius float64 `json:"celsius"`
}

// connectorKinds runs f once with the loopback kind in-process and once as a plugin.
func connectorKinds(t *testing.T, f func(t *testing.T, kind host.Option)) {
	t.Run("in-process", func(t *testing.T) { f(t, WithConnector(loopback.NewBuilder())) })
	t.Run("plugin", func(t *testing.T) { f(t, WithPlugins(pluginsDir)) })
}

// startDB builds b, runs the DB in the background and returns it with a stop function
// that cancels Run and returns Run's error.
func startDB(t *testing.T, b *host.Builder) (*host.DB, func() error) {
	t.Helper()
	return startDBWith(t, b, nil)
}

// startDBWith is startDB that calls before with the built DB before it runs, to
// subscribe consumers that must not miss the first values.
func startDBWith(t *testing.T, b *host.Builder, before func(db *host.DB)) (*host.DB, func() error) {
	t.Helper()
	db, err := b.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if before != nil {
		before(db)
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
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		}
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case <-db.Started():
	case <-time.After(30 * time.Second):
		t.Fatal("the DB did not start its services")
	}
	return db, stop
}

// recv receives one value within 5 s.
func recv[T any](t *testing.T, c *host.Consumer[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := c.Recv(ctx)
	if err != nil {
		t.Fatalf("Recv from %q: %v", c.Key(), err)
	}
	return v
}

// eventually polls cond every millisecond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// linkStatus returns the status of the link of record whose URL is url.
func linkStatus(t *testing.T, db *host.DB, record, url string) LinkStatus {
	t.Helper()
	for _, l := range Of(db).Links() {
		if l.Record == record && l.URL == url {
			return l
		}
	}
	t.Fatalf("no link %s of record %q", url, record)
	return LinkStatus{}
}
