package host

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

// configErrors unpacks Build's joined error.
func configErrors(t *testing.T, err error) []*ConfigError {
	t.Helper()
	if err == nil {
		t.Fatal("Build succeeded, want configuration errors")
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Build error is not joined: %T %v", err, err)
	}
	var out []*ConfigError
	for _, e := range joined.Unwrap() {
		var ce *ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("not a *ConfigError: %T %v", e, e)
		}
		out = append(out, ce)
	}
	return out
}

// wantError finds the error of record (and url) whose text contains substr.
func wantError(t *testing.T, errs []*ConfigError, record, url, substr string) {
	t.Helper()
	for _, e := range errs {
		if e.Record == record && e.URL == url && strings.Contains(e.Error(), substr) {
			return
		}
	}
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	t.Errorf("no error for record %q url %q containing %q; got:\n%s", record, url, substr, strings.Join(all, "\n"))
}

func TestBuildReportsEveryMistakeAtOnce(t *testing.T) {
	src := func(context.Context, *Producer[Temperature]) error { return nil }
	b := NewBuilder()
	Configure[Temperature](b, "a", func(r *Registrar[Temperature]) { r.SPMCRing(0) })
	Configure[int](b, "a", nil) // type clash
	Configure[Temperature](b, "b", func(r *Registrar[Temperature]) {
		r.Source(src)
		r.LinkFrom("mqtt://in/b") // second writer
	})
	Configure[Temperature](b, "c", func(r *Registrar[Temperature]) {
		r.LinkTo("not a url")
		r.LinkTo("mqtt://out/c").WithCodec("yaml")
		r.LinkTo("mqtt://out/raw").WithCodec("raw")
		r.LinkTo("mqtt://out/dup")
		r.LinkTo("mqtt://out/dup")
	})
	Configure[float64](b, "d", func(r *Registrar[float64]) {
		Transform(r, "missing", func(v float64) (float64, bool) { return v, true })
	})
	Configure[float64](b, "e", func(r *Registrar[float64]) {
		Transform(r, "a", func(v float64) (float64, bool) { return v, true }) // a holds Temperature
	})
	Configure[int](b, "bad..key", nil)
	Configure[int](b, "f", func(r *Registrar[int]) { r.Mailbox().SingleLatest() })

	_, err := b.Build()
	errs := configErrors(t, err)
	wantError(t, errs, "a", "", "capacity must be at least 1")
	wantError(t, errs, "a", "", "declared with type host.Temperature, configured again with type int")
	wantError(t, errs, "b", "", "has 2 writers (source; link_from mqtt://in/b)")
	wantError(t, errs, "c", "", `url "not a url"`)
	wantError(t, errs, "c", "mqtt://out/c", `unknown codec "yaml"`)
	wantError(t, errs, "c", "mqtt://out/raw", "codec raw needs a []byte or json.RawMessage record, not host.Temperature")
	wantError(t, errs, "c", "mqtt://out/dup", "link_to declared twice")
	wantError(t, errs, "d", "", `transform from missing: input record "missing" is not declared`)
	wantError(t, errs, "e", "", `input record "a" holds host.Temperature, but the function takes float64`)
	wantError(t, errs, "bad..key", "", "empty segment")
	wantError(t, errs, "f", "", "buffer set twice: mailbox, then single_latest")
	if len(errs) != 11 {
		t.Errorf("got %d errors, want 11:\n%v", len(errs), err)
	}
}

func TestBuildDetectsCycles(t *testing.T) {
	id := func(v int) (int, bool) { return v, true }
	b := NewBuilder()
	Configure[int](b, "x", nil)
	Configure[int](b, "a", func(r *Registrar[int]) { Transform(r, "c", id) })
	Configure[int](b, "b", func(r *Registrar[int]) { Transform(r, "a", id) })
	Configure[int](b, "c", func(r *Registrar[int]) {
		TransformJoin(r, []JoinInput{In[int]("b"), In[int]("x")}, func(ev JoinEvent) (int, bool) { return ev.Value.(int), true })
	})
	Configure[int](b, "self", func(r *Registrar[int]) { Transform(r, "self", id) })
	Configure[int](b, "after", func(r *Registrar[int]) { Transform(r, "x", id) })
	_, err := b.Build()
	errs := configErrors(t, err)
	wantError(t, errs, "a", "", "dependency cycle: a -> b -> c -> a")
	wantError(t, errs, "self", "", "dependency cycle: self -> self")
	if len(errs) != 2 {
		t.Errorf("got %d errors, want 2: %v", len(errs), err)
	}
}

func TestBuildOneWriterRule(t *testing.T) {
	src := func(context.Context, *Producer[int]) error { return nil }
	id := func(v int) (int, bool) { return v, true }
	b := NewBuilder()
	Configure[int](b, "in", nil)
	Configure[int](b, "two-sources", func(r *Registrar[int]) { r.Source(src).Source(src) })
	Configure[int](b, "transform-and-link", func(r *Registrar[int]) {
		Transform(r, "in", id)
		r.LinkFrom("knx://1/2/3")
	})
	Configure[int](b, "two-links", func(r *Registrar[int]) {
		r.LinkFrom("mqtt://a")
		r.LinkFrom("mqtt://b")
	})
	Configure[int](b, "ok", func(r *Registrar[int]) { r.Source(src).LinkTo("mqtt://out").WithCodec("text") })
	_, err := b.Build()
	errs := configErrors(t, err)
	wantError(t, errs, "two-sources", "", "has 2 writers (source; source)")
	wantError(t, errs, "transform-and-link", "", "has 2 writers (transform from in; link_from knx://1/2/3)")
	wantError(t, errs, "two-links", "", "has 2 writers (link_from mqtt://a; link_from mqtt://b)")
	if len(errs) != 3 {
		t.Errorf("got %d errors, want 3: %v", len(errs), err)
	}
}

func TestBuildSharedTypesAndReconfigure(t *testing.T) {
	b := NewBuilder()
	Configure[Temperature](b, "sensors.temp.indoor", func(r *Registrar[Temperature]) { r.SingleLatest() })
	Configure[Temperature](b, "sensors.temp.outdoor", nil)
	// Configuring the same key again with the same type continues the declaration.
	Configure[Temperature](b, "sensors.temp.indoor", func(r *Registrar[Temperature]) { r.Writable() })
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	infos := db.Records()
	if len(infos) != 3 || infos[2].Key != DeadLetterKey || infos[0].Buffer != "single_latest" || !infos[0].Writable || infos[1].Buffer != "spmc_ring" || infos[1].Capacity != 1024 {
		t.Fatalf("records: %+v", infos)
	}
	if _, err := ProducerOf[int](db, "sensors.temp.indoor"); !errors.Is(err, ErrTypeMismatch) {
		t.Fatalf("ProducerOf with the wrong type: %v", err)
	}
	if _, err := ConsumerOf[Temperature](db, "nope"); !errors.Is(err, ErrUnknownRecord) {
		t.Fatalf("ConsumerOf unknown key: %v", err)
	}
	if _, err := b.Build(); err == nil {
		t.Fatal("a builder built twice")
	}
}

// checkService is a Service that records its calls.
type checkService struct {
	errs     []error
	startErr error
	onStart  func(ctx context.Context, db *DB)
	onStop   func(ctx context.Context)

	started, stopped atomic.Int32
}

func (s *checkService) Validate(*DB) []error { return s.errs }
func (s *checkService) Start(ctx context.Context, db *DB) error {
	s.started.Add(1)
	if s.onStart != nil {
		s.onStart(ctx, db)
	}
	return s.startErr
}
func (s *checkService) Stop(ctx context.Context) error {
	s.stopped.Add(1)
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("Stop got no deadline")
	}
	if s.onStop != nil {
		s.onStop(ctx)
	}
	return nil
}

func TestBuildIncludesServiceValidation(t *testing.T) {
	svc := &checkService{errs: []error{&ConfigError{Record: "r", URL: "zz://x", Err: errors.New("no connector named zz")}}}
	b := NewBuilder(WithService("connectors", svc), WithService("connectors", &checkService{}))
	Configure[json.RawMessage](b, "r", func(r *Registrar[json.RawMessage]) { r.LinkTo("zz://x").WithCodec("raw") })
	Configure[int](b, "s", func(r *Registrar[int]) { r.SPMCRing(-1) })
	if b.Service("connectors") != svc {
		t.Fatal("Service did not return the registered service")
	}
	_, err := b.Build()
	errs := configErrors(t, err)
	wantError(t, errs, "r", "zz://x", "no connector named zz")
	wantError(t, errs, "", "", `service "connectors" registered twice`)
	wantError(t, errs, "s", "", "capacity must be at least 1")
	if n := svc.stopped.Load(); n != 1 {
		t.Fatalf("a failed Build stopped its service %d times, want once (to release what Validate acquired)", n)
	}
}

func TestCloseBeforeRunStopsServices(t *testing.T) {
	svc := &checkService{}
	b := NewBuilder(WithService("connectors", svc))
	Configure[int](b, "r", func(r *Registrar[int]) {})
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if n := svc.stopped.Load(); n != 0 {
		t.Fatalf("a successful Build stopped its service %d times", n)
	}
	db.Close()
	db.Close()
	if n, m := svc.stopped.Load(), svc.started.Load(); n != 1 || m != 0 {
		t.Fatalf("Close before Run: service started %d and stopped %d times, want 0 and 1", m, n)
	}
}
