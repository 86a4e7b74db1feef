package sdk

import (
	"errors"
	"testing"
	"time"
)

func TestBackoffDoublesWithinJitterAndCaps(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for range 50 {
			d := b.Delay(n)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", n, d, want/2, want)
			}
		}
	}
	if d := (Backoff{}).Delay(30); d < 15*time.Second || d > 30*time.Second {
		t.Fatalf("zero Backoff, attempt 30: %v, want 15s..30s", d)
	}
}

func TestRetryableKinds(t *testing.T) {
	retry := []ErrorKind{KindConnectionFailed, KindTimeout, KindBufferFull, KindClosed, KindUnknown}
	final := []ErrorKind{KindInvalidDestination, KindMessageTooLarge, KindUnsupportedQoS, KindInvalidConfig, KindRejected, KindNoRoute}
	for _, k := range retry {
		if !Retryable(Errorf(k, "x")) {
			t.Errorf("%s should be retryable", k)
		}
	}
	for _, k := range final {
		if Retryable(Errorf(k, "x")) {
			t.Errorf("%s should be permanent", k)
		}
	}
	if Retryable(nil) {
		t.Error("nil is not retryable")
	}
	joined := errors.Join(Errorf(KindRejected, "a"), Errorf(KindBufferFull, "b"))
	if !Retryable(joined) {
		t.Error("a joined error with a retryable part is retryable")
	}
	if Retryable(errors.Join(Errorf(KindRejected, "a"), Errorf(KindNoRoute, "b"))) {
		t.Error("a joined error of permanent parts is permanent")
	}
}
