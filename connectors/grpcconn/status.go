package grpcconn

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// codeKind classifies a gRPC status code. Retryable: UNAVAILABLE (connection failed),
// DEADLINE_EXCEEDED (timeout), RESOURCE_EXHAUSTED (buffer full) and ABORTED and
// CANCELLED (unknown: retried). Permanent, so the value is dead-lettered: NOT_FOUND
// and UNIMPLEMENTED (invalid destination), UNAUTHENTICATED and PERMISSION_DENIED
// (invalid config), and every other code (rejected: INVALID_ARGUMENT,
// FAILED_PRECONDITION, OUT_OF_RANGE, ALREADY_EXISTS, INTERNAL, UNKNOWN, DATA_LOSS).
func codeKind(c codes.Code) sdk.ErrorKind {
	switch c {
	case codes.Unavailable:
		return sdk.KindConnectionFailed
	case codes.DeadlineExceeded:
		return sdk.KindTimeout
	case codes.ResourceExhausted:
		return sdk.KindBufferFull
	case codes.Aborted, codes.Canceled:
		return sdk.KindUnknown
	case codes.NotFound, codes.Unimplemented:
		return sdk.KindInvalidDestination
	case codes.Unauthenticated, codes.PermissionDenied:
		return sdk.KindInvalidConfig
	}
	return sdk.KindRejected
}

// statusErr classifies the error of a call (what names it) by its status code. A
// message over a size limit (RESOURCE_EXHAUSTED saying so, from either side) is
// message too large; a context's end is a timeout.
func statusErr(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return sdk.Errorf(sdk.KindTimeout, "%s: %v", what, err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return sdk.Errorf(sdk.KindConnectionFailed, "%s: %v", what, err)
	}
	kind := codeKind(st.Code())
	if st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max") {
		kind = sdk.KindMessageTooLarge
	}
	return sdk.Errorf(kind, "%s: %s: %s", what, st.Code(), st.Message())
}
