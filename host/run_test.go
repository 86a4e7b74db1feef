package host

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestRunSourceTransformTap(t *testing.T) {
	var mu sync.Mutex
	var tapped []float64
	b := NewBuilder()
	Configure[Temperature](b, "temp.c", func(r *Registrar[Temperature]) {
		r.Source(func(ctx context.Context, p *Producer[Temperature]) error {
			for i := 1; i <= 5; i++ {
				if err := p.Produce(Temperature{Celsius: float64(i * 10)}); err != nil {
					return err
				}
			}
			<-ctx.Done()
			return ctx.Err()
		})
	})
	Configure[float64](b, "temp.f", func(r *Registrar[float64]) {
		Transform(r, "temp.c", func(c Temperature) (float64, bool) {
			return c.Celsius*9/5 + 32, c.Celsius != 30 // drop 30 °C
		})
		r.Tap(func(_ context.Context, f float64) {
			mu.Lock()
			tapped = append(tapped, f)
			mu.Unlock()
		})
	})
	db, stop := startDB(t, b)
	eventually(t, "tap to see 4 values", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(tapped) == 4
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []float64{50, 68, 104, 122}
	for i, w := range want {
		if tapped[i] != w {
			t.Fatalf("tapped %v, want %v", tapped, want)
		}
	}
	info, _ := db.Record("temp.f")
	if info.Writer != "transform from temp.c" || info.Stats.Produced != 4 || info.Stats.Consumed != 4 {
		t.Fatalf("temp.f info: %+v", info)
	}
	if v, ok, err := Get[float64](db, "temp.f"); err != nil || !ok || v != 122 {
		t.Fatalf("Get after shutdown: %v %v %v", v, ok, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	goleak.VerifyNone(t) // every stage goroutine ended with Run

	if err := db.Run(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Run after shutdown: %v", err)
	}
}

func TestRunStatefulTransformAndJoin(t *testing.T) {
	type reading struct {
		Key string
		V   int
	}
	b := NewBuilder()
	Configure[int](b, "a", nil)
	Configure[string](b, "b", nil)
	Configure[int](b, "sum", func(r *Registrar[int]) {
		TransformWithState(r, "a", 0, func(total *int, v int) (int, bool) {
			*total += v
			return *total, true
		})
	})
	Configure[reading](b, "joined", func(r *Registrar[reading]) {
		TransformJoin(r, []JoinInput{In[int]("a"), In[string]("b")}, func(ev JoinEvent) (reading, bool) {
			switch v := ev.Value.(type) {
			case int:
				return reading{ev.Key, v}, ev.Index == 0
			case string:
				return reading{ev.Key, len(v)}, ev.Index == 1
			}
			return reading{}, false
		})
	})
	db, _ := startDB(t, b)
	sums, _ := ConsumerOf[int](db, "sum")
	defer sums.Close()
	joined, _ := ConsumerOf[reading](db, "joined")
	defer joined.Close()
	pa, _ := ProducerOf[int](db, "a")
	pb, _ := ProducerOf[string](db, "b")
	for _, v := range []int{1, 2, 3} {
		_ = pa.Produce(v)
		if got := recv(t, joined); got != (reading{"a", v}) {
			t.Fatalf("join got %+v for a=%d", got, v)
		}
	}
	_ = pb.Produce("four")
	if got := recv(t, joined); got != (reading{"b", 4}) {
		t.Fatalf("join got %+v for b", got)
	}
	for _, want := range []int{1, 3, 6} {
		if got := recv(t, sums); got != want {
			t.Fatalf("running sum %d, want %d", got, want)
		}
	}
	if g := db.Graph(); !strings.Contains(g.DOT(), `"b" -> "joined" [label="join"]`) {
		t.Fatalf("graph lacks the join edge:\n%s", g.DOT())
	}
}

func TestRunReportsFailingAndPanickingStages(t *testing.T) {
	b := NewBuilder()
	Configure[int](b, "fails", func(r *Registrar[int]) {
		r.Source(func(context.Context, *Producer[int]) error { return errors.New("sensor unplugged") })
	})
	Configure[int](b, "panics", func(r *Registrar[int]) {
		r.Tap(func(context.Context, int) { panic("tap bug") })
	})
	Configure[int](b, "fine", func(r *Registrar[int]) { r.SingleLatest() })
	db, stop := startDB(t, b)
	p, _ := ProducerOf[int](db, "panics")
	_ = p.Produce(1)
	eventually(t, "both stage errors counted", func() bool {
		a, _ := db.Record("fails")
		c, _ := db.Record("panics")
		return a.Stats.StageErrors == 1 && c.Stats.StageErrors == 1
	})
	// Other records keep working.
	if err := db.SetJSON("fine", []byte("3")); !errors.Is(err, ErrDenied) {
		t.Fatalf("SetJSON on a record that is not writable: %v", err)
	}
	fp, _ := ProducerOf[int](db, "fine")
	if err := fp.Produce(3); err != nil {
		t.Fatal(err)
	}
	err := stop()
	if err == nil || !strings.Contains(err.Error(), `record "fails": source: sensor unplugged`) || !strings.Contains(err.Error(), `record "panics": tap #1: panic: tap bug`) {
		t.Fatalf("Run error: %v", err)
	}
}

// A service starts after the stages, and stops after the stages stopped and the
// buffers closed: a link reader it opened hands out what is left, then ErrClosed.
func TestRunServiceLifecycle(t *testing.T) {
	var reader *LinkReader
	var drained []string
	var stopErr error
	svc := &checkService{
		onStart: func(_ context.Context, db *DB) {
			var err error
			if reader, err = db.OpenLinkReader(0); err != nil {
				t.Errorf("OpenLinkReader: %v", err)
			}
		},
		onStop: func(ctx context.Context) {
			for {
				p, err := reader.Next(ctx)
				if err != nil {
					stopErr = err
					break
				}
				drained = append(drained, string(p))
			}
			reader.Close()
		},
	}
	b := NewBuilder(WithService("svc", svc), WithDrainTimeout(time.Second))
	produced := make(chan struct{})
	Configure[int](b, "r", func(r *Registrar[int]) {
		r.Source(func(ctx context.Context, p *Producer[int]) error {
			for i := 1; i <= 3; i++ {
				_ = p.Produce(i)
			}
			close(produced)
			<-ctx.Done()
			return nil
		})
		r.LinkTo("mqtt://out/r")
	})
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- db.Run(context.Background()) }()
	<-produced
	eventually(t, "service start", func() bool { return svc.started.Load() == 1 })
	_ = db.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if svc.stopped.Load() != 1 {
		t.Fatalf("stopped %d times", svc.stopped.Load())
	}
	// The reader was subscribed when Run started, before the source produced.
	if strings.Join(drained, ",") != "1,2,3" || !errors.Is(stopErr, ErrClosed) {
		t.Fatalf("drained %v, then %v; want 1,2,3 then ErrClosed", drained, stopErr)
	}
}

func TestRunStopsWhenServiceFailsToStart(t *testing.T) {
	first, second := &checkService{}, &checkService{startErr: errors.New("broker unreachable")}
	third := &checkService{}
	b := NewBuilder(WithService("first", first), WithService("second", second), WithService("third", third))
	Configure[int](b, "r", nil)
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	err = db.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `service "second": start: broker unreachable`) {
		t.Fatalf("Run: %v", err)
	}
	if first.stopped.Load() != 1 || second.stopped.Load() != 0 || third.started.Load() != 0 {
		t.Fatalf("first stopped %d, second stopped %d, third started %d", first.stopped.Load(), second.stopped.Load(), third.started.Load())
	}
}

func TestCloseWithoutRunClosesBuffers(t *testing.T) {
	b := NewBuilder()
	Configure[int](b, "r", nil)
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ConsumerOf[int](db, "r")
	defer c.Close()
	_ = db.Close()
	p, _ := ProducerOf[int](db, "r")
	if err := p.Produce(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Produce after Close: %v", err)
	}
	if _, err := c.Recv(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv after Close: %v", err)
	}
}

func TestRunRecoversPanicInJoin(t *testing.T) {
	b := NewBuilder()
	Configure[int](b, "a", nil)
	Configure[int](b, "b", nil)
	Configure[int](b, "j", func(r *Registrar[int]) {
		TransformJoin(r, []JoinInput{In[int]("a"), In[int]("b")}, func(ev JoinEvent) (int, bool) {
			if ev.Key == "a" {
				panic("join bug")
			}
			return ev.Value.(int), true
		})
	})
	db, stop := startDB(t, b)
	out, _ := ConsumerOf[int](db, "j")
	defer out.Close()
	pa, _ := ProducerOf[int](db, "a")
	pb, _ := ProducerOf[int](db, "b")
	_ = pa.Produce(1)
	eventually(t, "the panic to be counted", func() bool { info, _ := db.Record("j"); return info.Stats.StageErrors == 1 })
	_ = pb.Produce(2) // the other input keeps flowing
	if got := recv(t, out); got != 2 {
		t.Fatalf("join output %d, want 2", got)
	}
	if err := stop(); err == nil || !strings.Contains(err.Error(), "panic: join bug") {
		t.Fatalf("Run: %v", err)
	}
}
