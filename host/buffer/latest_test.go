package buffer

import (
	"errors"
	"testing"
)

func TestLatestNewReaderGetsCurrentValueOnce(t *testing.T) {
	b := NewLatest[int]()
	_ = b.Push(1)
	_ = b.Push(2)
	r := b.Subscribe()
	if got := mustRecv(t, r); got != 2 {
		t.Fatalf("new reader got %d, want current value 2", got)
	}
	if _, err := r.TryRecv(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("current value delivered twice: %v", err)
	}
	_ = b.Push(3)
	if got := mustRecv(t, r); got != 3 {
		t.Fatalf("got %d, want 3", got)
	}
}

func TestLatestSlowReaderSkipsIntermediateValues(t *testing.T) {
	b := NewLatest[int]()
	r := b.Subscribe()
	_ = b.Push(1)
	mustRecv(t, r)
	for i := 2; i <= 10; i++ {
		_ = b.Push(i)
	}
	if got := mustRecv(t, r); got != 10 {
		t.Fatalf("slow reader got %d, want newest 10", got)
	}
	if _, err := r.TryRecv(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("after newest: %v", err)
	}
	if st := b.Stats(); st.Dropped != 8 || st.Consumed != 2 || st.Produced != 10 {
		t.Fatalf("stats %+v, want 8 skipped, 2 consumed", st)
	}
}

func TestLatestEmptyNewReaderWaits(t *testing.T) {
	b := NewLatest[int]()
	r := b.Subscribe()
	if _, err := r.TryRecv(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty buffer: %v", err)
	}
}
