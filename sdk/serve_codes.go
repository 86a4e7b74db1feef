package sdk

import (
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcCodes is the one table that carries error kinds across the plugin boundary;
// each kind has its own code, so the kind survives the round trip:
//
//	KindUnknown            Unknown
//	KindConnectionFailed   Unavailable
//	KindMessageTooLarge    OutOfRange
//	KindUnsupportedQoS     Unimplemented
//	KindTimeout            DeadlineExceeded
//	KindBufferFull         ResourceExhausted
//	KindInvalidDestination InvalidArgument
//	KindInvalidConfig      FailedPrecondition
//	KindClosed             Canceled
//	KindNoRoute            NotFound
//	KindRejected           Aborted
//
// Any other code (Internal, DataLoss, ...) arrives as KindUnknown.
var grpcCodes = [...]codes.Code{
	KindUnknown:            codes.Unknown,
	KindConnectionFailed:   codes.Unavailable,
	KindMessageTooLarge:    codes.OutOfRange,
	KindUnsupportedQoS:     codes.Unimplemented,
	KindTimeout:            codes.DeadlineExceeded,
	KindBufferFull:         codes.ResourceExhausted,
	KindInvalidDestination: codes.InvalidArgument,
	KindInvalidConfig:      codes.FailedPrecondition,
	KindClosed:             codes.Canceled,
	KindNoRoute:            codes.NotFound,
	KindRejected:           codes.Aborted,
}

// GRPCCode returns the gRPC status code that carries the kind across the plugin
// boundary (see the table in docs/plugin-protocol.md).
func (k ErrorKind) GRPCCode() codes.Code {
	if int(k) < len(grpcCodes) {
		return grpcCodes[k]
	}
	return codes.Unknown
}

// KindForGRPCCode is the inverse of GRPCCode; a code that no kind uses gives KindUnknown.
func KindForGRPCCode(c codes.Code) ErrorKind {
	for k, kc := range grpcCodes {
		if kc == c {
			return ErrorKind(k)
		}
	}
	return KindUnknown
}

// ToStatus converts err into a gRPC status error whose code is its kind's and whose
// message is its cause; nil stays nil. Both sides of the plugin boundary send errors
// through it, and read them back with FromStatus.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && KindOf(err) == KindUnknown {
		var e *Error
		if !errors.As(err, &e) {
			return err // already a status error without a kind: pass it on
		}
	}
	kind := KindOf(err)
	// The kind travels in the code, and FromStatus prints it again: drop it from the
	// front of the message (a joined or wrapped *Error starts with it too).
	msg := strings.TrimPrefix(err.Error(), kind.String()+": ")
	return status.Error(kind.GRPCCode(), msg)
}

// FromStatus converts a gRPC status error into an *Error of the kind its code
// carries; nil stays nil and an error that is no status is returned unchanged.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	if s.Code() == codes.OK {
		return nil
	}
	return &Error{Kind: KindForGRPCCode(s.Code()), Err: errors.New(s.Message())}
}
