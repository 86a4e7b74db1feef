package buffer

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func mustRecv(t *testing.T, r Reader[int]) int {
	t.Helper()
	v, err := r.TryRecv()
	if err != nil {
		t.Fatalf("TryRecv: %v", err)
	}
	return v
}

func TestRingEveryReaderSeesEveryValue(t *testing.T) {
	b := NewRing[int](4)
	a, c := b.Subscribe(), b.Subscribe()
	for i := 1; i <= 4; i++ {
		_ = b.Push(i)
	}
	for _, r := range []Reader[int]{a, c} {
		for want := 1; want <= 4; want++ {
			if got := mustRecv(t, r); got != want {
				t.Fatalf("got %d, want %d", got, want)
			}
		}
		if _, err := r.TryRecv(); !errors.Is(err, ErrEmpty) {
			t.Fatalf("after reading everything: %v", err)
		}
	}
}

func TestRingLagReportsMissedAndContinuesFromOldest(t *testing.T) {
	for _, capacity := range []int{3, 4, 1000} {
		b := NewRing[int](capacity)
		r := b.Subscribe()
		total := capacity + 7
		for i := 0; i < total; i++ {
			_ = b.Push(i)
		}
		_, err := r.TryRecv()
		var lag *LagError
		if !errors.As(err, &lag) || lag.Missed != 7 {
			t.Fatalf("capacity %d: got %v, want lag of 7", capacity, err)
		}
		for want := 7; want < total; want++ {
			if got := mustRecv(t, r); got != want {
				t.Fatalf("capacity %d: after lag got %d, want %d", capacity, got, want)
			}
		}
		st := b.Stats()
		if st.Dropped != 7 || st.Lagged != 1 || st.Consumed != uint64(capacity) || st.Produced != uint64(total) {
			t.Fatalf("capacity %d: stats %+v", capacity, st)
		}
		r.Close()
		if st2 := b.Stats(); st2.Dropped != 7 || st2.Consumed != uint64(capacity) {
			t.Fatalf("stats lost a closed reader's counts: %+v", st2)
		}
	}
}

func TestRingLateReaderSeesOnlyNewValues(t *testing.T) {
	b := NewRing[int](8)
	_ = b.Push(1)
	_ = b.Push(2)
	r := b.Subscribe()
	if _, err := r.TryRecv(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("late reader saw an old value: %v", err)
	}
	_ = b.Push(3)
	if got := mustRecv(t, r); got != 3 {
		t.Fatalf("late reader got %d, want 3", got)
	}
	if v, ok := b.Peek(); !ok || v != 3 {
		t.Fatalf("Peek: %d %v", v, ok)
	}
}

func TestRingOccupancyFollowsSlowestReader(t *testing.T) {
	b := NewRing[int](4)
	fast, slow := b.Subscribe(), b.Subscribe()
	for i := 0; i < 3; i++ {
		_ = b.Push(i)
	}
	mustRecv(t, fast)
	if occ := b.Stats().Occupancy; occ != 3 {
		t.Fatalf("occupancy %d, want 3 (slow reader read nothing)", occ)
	}
	for i := 0; i < 3; i++ {
		mustRecv(t, slow)
	}
	if occ := b.Stats().Occupancy; occ != 2 {
		t.Fatalf("occupancy %d, want 2", occ)
	}
	for i := 0; i < 10; i++ {
		_ = b.Push(i)
	}
	if occ := b.Stats().Occupancy; occ != 4 {
		t.Fatalf("occupancy %d, want capacity 4", occ)
	}
}

// A ring lets go of the values every reader has read (a holding reader: released),
// keeping the newest for Peek, so its memory follows what its readers still need; a
// value a reader has not read yet, or a holder has not released, stays.
func TestRingLetsGoOfWhatEveryReaderRead(t *testing.T) {
	const capacity = 64
	b := NewRing[*int](capacity)
	fast, slow := b.Subscribe(), b.Subscribe()
	held, _ := b.SubscribeHolding()
	kept := func() (n int) {
		for i := range b.slots {
			if b.slots[i].val != nil {
				n++
			}
		}
		return n
	}
	push := func(n int) {
		for range n {
			v := 0
			if err := b.Push(&v); err != nil {
				t.Fatal(err)
			}
		}
	}
	untilSwept := func() int { // pushes until Push sweeps; returns the tail
		for at := b.sweepAt; b.sweepAt == at; {
			push(1)
		}
		return int(b.tail.Load())
	}
	read := func(r Reader[*int], n int) {
		for range n {
			if _, err := r.TryRecv(); err != nil {
				t.Fatal(err)
			}
		}
	}
	push(capacity / 2)
	read(fast, capacity/2)
	read(held, capacity/2)
	read(slow, 10)
	if tail, got := untilSwept(), kept(); got != tail {
		t.Fatalf("%d values kept of %d, want all: a holding reader's unreleased values stay", got, tail)
	}
	held.Release(capacity / 2)
	if tail, got := untilSwept(), kept(); got != tail-10 {
		t.Fatalf("%d values kept of %d, want %d (the slow reader's unread ones)", got, tail, tail-10)
	}
	r0 := int(b.tail.Load())
	for _, r := range []Reader[*int]{fast, slow, held} {
		read(r, r0-int(r.(*ringReader[*int]).published.Load()))
	}
	held.Release(r0 - capacity/2)
	if tail, got := untilSwept(), kept(); got != tail-r0 {
		t.Fatalf("%d values kept, want %d (those pushed after every reader caught up)", got, tail-r0)
	}
	if v, ok := b.Peek(); !ok || v == nil {
		t.Fatalf("Peek after the sweep: %v, %v", v, ok)
	}
	slow.Close()
	fast.Close()
	held.Close()
	untilSwept()
	if got := kept(); got != 1 {
		t.Fatalf("%d values kept without readers, want 1 (Peek's)", got)
	}
}

// Only values that hold pointers are let go of; for the others the slots are all the
// memory, and Push never sweeps.
func TestRingHoldsPointers(t *testing.T) {
	type reading struct {
		seq uint64
		at  [2]int64
	}
	type tagged struct {
		v    float64
		name string
	}
	for _, tc := range []struct {
		typ  reflect.Type
		want bool
	}{
		{reflect.TypeFor[int](), false},
		{reflect.TypeFor[reading](), false},
		{reflect.TypeFor[[0]*int](), false},
		{reflect.TypeFor[[]byte](), true},
		{reflect.TypeFor[string](), true},
		{reflect.TypeFor[tagged](), true},
		{reflect.TypeFor[[2]*int](), true},
		{reflect.TypeFor[any](), true},
	} {
		if got := holdsPointers(tc.typ); got != tc.want {
			t.Errorf("holdsPointers(%v) = %v, want %v", tc.typ, got, tc.want)
		}
	}
	if b := NewRing[reading](8); b.sweepAt != math.MaxUint64 {
		t.Errorf("a ring of pointer-free values sweeps at %d", b.sweepAt)
	}
}
