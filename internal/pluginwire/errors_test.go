package pluginwire

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

func TestEveryKindHasItsOwnCode(t *testing.T) {
	seen := map[codes.Code]sdk.ErrorKind{}
	for k := sdk.KindUnknown; k <= sdk.KindRejected; k++ {
		c := KindCode(k)
		if c == codes.OK {
			t.Fatalf("%v maps to OK", k)
		}
		if other, dup := seen[c]; dup {
			t.Fatalf("%v and %v share code %v", k, other, c)
		}
		seen[c] = k
		if back := CodeKind(c); back != k {
			t.Fatalf("%v -> %v -> %v", k, c, back)
		}
	}
	if CodeKind(codes.Internal) != sdk.KindUnknown {
		t.Fatal("Internal should arrive as KindUnknown")
	}
}

func TestStatusRoundTripKeepsKindAndCause(t *testing.T) {
	for k := sdk.KindConnectionFailed; k <= sdk.KindRejected; k++ {
		orig := sdk.Errorf(k, "broker %s said no", "127.0.0.1:1883")
		got := FromStatus(ToStatus(orig))
		if sdk.KindOf(got) != k || got.Error() != orig.Error() {
			t.Fatalf("%v: got %q (kind %v), want %q", k, got, sdk.KindOf(got), orig)
		}
	}
	wrapped := fmt.Errorf("publish: %w", sdk.Errorf(sdk.KindTimeout, "no PUBACK"))
	if got := FromStatus(ToStatus(wrapped)); !errors.Is(got, sdk.ErrTimeout) {
		t.Fatalf("wrapped: %v", got)
	}
	joined := errors.Join(sdk.Errorf(sdk.KindInvalidConfig, "option %q: not set", "token_env"))
	if got := FromStatus(ToStatus(joined)).Error(); got != `invalid config: option "token_env": not set` {
		t.Fatalf("joined: %q, want the kind printed once", got)
	}
	if got := FromStatus(ToStatus(context.DeadlineExceeded)); !errors.Is(got, sdk.ErrTimeout) {
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

func TestResultFieldRoundTripKeepsKindAndCause(t *testing.T) {
	for k := sdk.KindConnectionFailed; k <= sdk.KindRejected; k++ {
		orig := sdk.Errorf(k, "broker said no")
		e := ErrorToPB(orig)
		if sdk.ErrorKind(e.Kind) != k || codes.Code(e.Code) != KindCode(k) {
			t.Fatalf("%v: encoded kind %d code %v", k, e.Kind, codes.Code(e.Code))
		}
		got := ErrorFromPB(e)
		if sdk.KindOf(got) != k || got.Error() != orig.Error() {
			t.Fatalf("%v: got %q (kind %v)", k, got, sdk.KindOf(got))
		}
	}
	// A sender that sets only the code (kind 0) is read by the code.
	if got := ErrorFromPB(&pb.Error{Code: uint32(codes.ResourceExhausted), Message: "full"}); sdk.KindOf(got) != sdk.KindBufferFull {
		t.Fatalf("code only: kind %v", sdk.KindOf(got))
	}
	if ErrorToPB(nil) != nil || ErrorFromPB(nil) != nil {
		t.Fatal("nil must stay nil")
	}
}
