package sdk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestEveryKindHasItsOwnCode(t *testing.T) {
	seen := map[codes.Code]ErrorKind{}
	for k := KindUnknown; k <= KindRejected; k++ {
		c := k.GRPCCode()
		if c == codes.OK {
			t.Fatalf("%v maps to OK", k)
		}
		if other, dup := seen[c]; dup {
			t.Fatalf("%v and %v share code %v", k, other, c)
		}
		seen[c] = k
		if back := KindForGRPCCode(c); back != k {
			t.Fatalf("%v -> %v -> %v", k, c, back)
		}
	}
	if KindForGRPCCode(codes.Internal) != KindUnknown {
		t.Fatal("Internal should arrive as KindUnknown")
	}
}

func TestStatusRoundTripKeepsKindAndCause(t *testing.T) {
	for k := KindConnectionFailed; k <= KindRejected; k++ {
		orig := Errorf(k, "broker %s said no", "127.0.0.1:1883")
		got := FromStatus(ToStatus(orig))
		if KindOf(got) != k || got.Error() != orig.Error() {
			t.Fatalf("%v: got %q (kind %v), want %q", k, got, KindOf(got), orig)
		}
	}
	wrapped := fmt.Errorf("publish: %w", Errorf(KindTimeout, "no PUBACK"))
	if got := FromStatus(ToStatus(wrapped)); !errors.Is(got, ErrTimeout) {
		t.Fatalf("wrapped: %v", got)
	}
	joined := errors.Join(Errorf(KindInvalidConfig, "option %q: not set", "token_env"))
	if got := FromStatus(ToStatus(joined)).Error(); got != `invalid config: option "token_env": not set` {
		t.Fatalf("joined: %q, want the kind printed once", got)
	}
	if got := FromStatus(ToStatus(context.DeadlineExceeded)); !errors.Is(got, ErrTimeout) {
		t.Fatalf("deadline: %v", got)
	}
	if ToStatus(nil) != nil || FromStatus(nil) != nil || FromStatus(status.Error(codes.OK, "")) != nil {
		t.Fatal("nil must stay nil")
	}
	plain := errors.New("plain")
	if FromStatus(plain) != plain {
		t.Fatal("a non-status error must pass through")
	}
}

func TestServeRefusesBadBuilderSets(t *testing.T) {
	if err := checkBuilders(nil); err == nil {
		t.Fatal("no builders accepted")
	}
	b := builderFunc("dup")
	if err := checkBuilders([]ConnectorBuilder{b, b}); err == nil || !strings.Contains(err.Error(), `two builders for scheme "dup"`) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := checkBuilders([]ConnectorBuilder{builderFunc("9bad")}); err == nil {
		t.Fatal("bad scheme accepted")
	}
}

type builderFunc string

func (b builderFunc) Scheme() string { return string(b) }
func (b builderFunc) Build(context.Context, *BuildContext) (Connector, error) {
	return nil, errors.New("unused")
}
