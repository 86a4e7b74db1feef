package run

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

type fakeBuilder struct {
	build func(ctx context.Context, b *sdk.BuildContext) (sdk.Connector, error)
}

func (fakeBuilder) Scheme() string { return "fake" }
func (f fakeBuilder) Build(ctx context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
	return f.build(ctx, b)
}

type fakeConn struct {
	closes  atomic.Int32
	publish func(dest string) error
}

func (c *fakeConn) Publish(_ context.Context, dest string, _ sdk.Config, _ []byte) error {
	return c.publish(dest)
}
func (c *fakeConn) Close(context.Context) error { c.closes.Add(1); return nil }

func TestInstanceLifecycle(t *testing.T) {
	conn := &fakeConn{publish: func(dest string) error {
		if dest == "boom" {
			panic("kaboom")
		}
		return nil
	}}
	stopped := make(chan struct{})
	inst, err := Start(context.Background(), fakeBuilder{build: func(_ context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
		b.Go("worker", func(ctx context.Context) { <-ctx.Done(); close(stopped) })
		return conn, nil
	}}, Config{Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Publish(context.Background(), "ok", nil, nil); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if err := inst.Publish(context.Background(), "boom", nil, nil); err == nil || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("a panicking Publish must become an error, got %v", err)
	}
	if err := inst.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := inst.Close(context.Background()); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	select {
	case <-stopped:
	case <-time.After(time.Second):
		t.Fatal("background goroutine not stopped by Close")
	}
	if n := conn.closes.Load(); n != 1 {
		t.Fatalf("connector closed %d times, want 1", n)
	}
	if err := inst.Publish(context.Background(), "ok", nil, nil); !errors.Is(err, sdk.ErrClosed) {
		t.Fatalf("Publish after Close = %v, want sdk.ErrClosed", err)
	}
}

func TestStartFailureStopsGoroutinesAndRecoversPanics(t *testing.T) {
	stopped := make(chan struct{})
	_, err := Start(context.Background(), fakeBuilder{build: func(_ context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
		b.Go("worker", func(ctx context.Context) { <-ctx.Done(); close(stopped) })
		return nil, errors.New("no broker")
	}}, Config{Name: "x"})
	if err == nil {
		t.Fatal("want the build error")
	}
	<-stopped

	_, err = Start(context.Background(), fakeBuilder{build: func(context.Context, *sdk.BuildContext) (sdk.Connector, error) {
		panic("bad builder")
	}}, Config{Name: "x"})
	if err == nil || !strings.Contains(err.Error(), "bad builder") {
		t.Fatalf("panicking build: err = %v", err)
	}
}

func TestGoroutinePanicMakesInstanceUnhealthy(t *testing.T) {
	inst, err := Start(context.Background(), fakeBuilder{build: func(_ context.Context, b *sdk.BuildContext) (sdk.Connector, error) {
		b.Go("reader", func(context.Context) { panic("lost it") })
		return &fakeConn{}, nil
	}}, Config{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(context.Background())
	deadline := time.Now().Add(2 * time.Second)
	for inst.Health(context.Background()) == nil {
		if time.Now().After(deadline) {
			t.Fatal("instance still healthy after its goroutine panicked")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := inst.Health(context.Background()); !strings.Contains(err.Error(), "reader") {
		t.Fatalf("Health = %v, want the goroutine named", err)
	}
}
