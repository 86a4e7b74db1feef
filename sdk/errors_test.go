package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestErrorKinds(t *testing.T) {
	err := Errorf(KindConnectionFailed, "broker %s: %w", "127.0.0.1:1883", io.EOF)
	if !errors.Is(err, ErrConnectionFailed) || errors.Is(err, ErrTimeout) {
		t.Fatalf("errors.Is does not follow the kind: %v", err)
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("the cause is lost: %v", err)
	}
	if got := err.Error(); got != "connection failed: broker 127.0.0.1:1883: EOF" {
		t.Fatalf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("publish: %w", err)
	if KindOf(wrapped) != KindConnectionFailed {
		t.Fatalf("KindOf through a wrap = %v", KindOf(wrapped))
	}
	if KindOf(context.DeadlineExceeded) != KindTimeout || KindOf(io.EOF) != KindUnknown {
		t.Fatal("KindOf of plain errors is wrong")
	}
	if Wrap(KindTimeout, nil) != nil {
		t.Fatal("Wrap(nil) must be nil")
	}
	if KindOf(Wrap(KindTimeout, err)) != KindConnectionFailed {
		t.Fatal("Wrap must keep an existing kind")
	}
}
