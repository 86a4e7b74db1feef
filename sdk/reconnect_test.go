package sdk

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReconnectorBacksOffAndReportsWhy(t *testing.T) {
	var calls atomic.Int64
	r := &Reconnector{
		Name:    "peer 192.0.2.1:9",
		Backoff: Backoff{Min: 20 * time.Millisecond, Max: 40 * time.Millisecond},
		Session: func(ctx context.Context) error {
			calls.Add(1)
			return errors.New("connection refused")
		},
	}
	if err := r.Health(); KindOf(err) != KindConnectionFailed || !strings.Contains(err.Error(), "not connected yet") {
		t.Fatalf("Health before Run = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	time.Sleep(400 * time.Millisecond)
	err := r.Health()
	if KindOf(err) != KindConnectionFailed || !strings.Contains(err.Error(), "peer 192.0.2.1:9: down since") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Health while failing = %v", err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	// Delays are at least 10 ms (half of Min), at most 40 ms: no hammering, no stall.
	n := calls.Load()
	if n < 2 || n > 41 {
		t.Fatalf("%d attempts in 400 ms with 10-40 ms backoff", n)
	}
	if st := r.Stats(); st.Attempts != n || st.Failures != n || st.Connects != 0 || st.Losses != 0 {
		t.Fatalf("stats %+v after %d failed attempts", st, n)
	}
}

func TestReconnectorUpDownAndFlapping(t *testing.T) {
	var mode atomic.Int32 // 0: stay up; 1: flap (up, then lost at once)
	r := &Reconnector{Name: "peer", Backoff: Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond}, Stable: time.Hour}
	lost := make(chan struct{}, 1)
	r.Session = func(ctx context.Context) error {
		r.MarkUp()
		if mode.Load() == 1 {
			return errors.New("reset by peer")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-lost:
			return errors.New("reset by peer")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for !r.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("never connected")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.Health(); err != nil {
		t.Fatalf("Health while up = %v", err)
	}
	// Flapping: each connection drops at once and is no stable one, so the backoff
	// grows to Max (200 ms) instead of reconnecting every 10-20 ms.
	mode.Store(1)
	lost <- struct{}{}
	time.Sleep(time.Second)
	st := r.Stats()
	if st.Losses < 2 || st.Connects != st.Losses+1 && st.Connects != st.Losses {
		t.Fatalf("stats after flapping: %+v", st)
	}
	if st.Attempts > 20 {
		t.Fatalf("%d attempts in 1 s of flapping: the backoff did not grow", st.Attempts)
	}
	cancel()
	<-done
	if err := r.Health(); KindOf(err) != KindConnectionFailed || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Health after Run ended = %v", err)
	}
}
