package pluginwire

import (
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// The one error codec of the plugin boundary. An error crosses it in two forms: a
// result field (pb.Error, which carries the kind's number, its gRPC code and the
// message) and, for control calls, a gRPC status whose code stands for the kind:
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
// Each kind has its own code, so the kind survives either form; any other code
// (Internal, DataLoss, ...) arrives as KindUnknown.
var kindCodes = [...]codes.Code{
	sdk.KindUnknown:            codes.Unknown,
	sdk.KindConnectionFailed:   codes.Unavailable,
	sdk.KindMessageTooLarge:    codes.OutOfRange,
	sdk.KindUnsupportedQoS:     codes.Unimplemented,
	sdk.KindTimeout:            codes.DeadlineExceeded,
	sdk.KindBufferFull:         codes.ResourceExhausted,
	sdk.KindInvalidDestination: codes.InvalidArgument,
	sdk.KindInvalidConfig:      codes.FailedPrecondition,
	sdk.KindClosed:             codes.Canceled,
	sdk.KindNoRoute:            codes.NotFound,
	sdk.KindRejected:           codes.Aborted,
}

// KindCode returns the gRPC status code that stands for kind.
func KindCode(k sdk.ErrorKind) codes.Code {
	if int(k) < len(kindCodes) {
		return kindCodes[k]
	}
	return codes.Unknown
}

// CodeKind is the inverse of KindCode; a code that no kind uses gives KindUnknown.
func CodeKind(c codes.Code) sdk.ErrorKind {
	for k, kc := range kindCodes {
		if kc == c {
			return sdk.ErrorKind(k)
		}
	}
	return sdk.KindUnknown
}

// message is err's text without its kind in front: the kind travels beside it, and
// the receiving side prints it again.
func message(err error, kind sdk.ErrorKind) string {
	return strings.TrimPrefix(err.Error(), kind.String()+": ")
}

// ToStatus converts err into a gRPC status error whose code stands for its kind and
// whose message is its cause; nil stays nil, and a status error without a kind passes
// unchanged.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && sdk.KindOf(err) == sdk.KindUnknown {
		var e *sdk.Error
		if !errors.As(err, &e) {
			return err
		}
	}
	kind := sdk.KindOf(err)
	return status.Error(KindCode(kind), message(err, kind))
}

// FromStatus converts a gRPC status error into an *sdk.Error of the kind its code
// stands for; nil (and code OK) gives nil, and an error that is no status is returned
// unchanged.
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
	return &sdk.Error{Kind: CodeKind(s.Code()), Err: errors.New(s.Message())}
}

// ErrorToPB encodes err for a result field; nil stays nil.
func ErrorToPB(err error) *pb.Error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok && sdk.KindOf(err) == sdk.KindUnknown {
		var e *sdk.Error
		if !errors.As(err, &e) {
			return &pb.Error{Code: uint32(s.Code()), Kind: uint32(CodeKind(s.Code())), Message: s.Message()}
		}
	}
	kind := sdk.KindOf(err)
	return &pb.Error{Code: uint32(KindCode(kind)), Kind: uint32(kind), Message: message(err, kind)}
}

// ErrorFromPB decodes a result field into an *sdk.Error; nil stays nil. The kind
// number decides; a sender that left it 0 is read by its code.
func ErrorFromPB(e *pb.Error) error {
	if e == nil {
		return nil
	}
	kind := sdk.ErrorKind(e.Kind)
	if kind == sdk.KindUnknown || int(kind) >= len(kindCodes) {
		kind = CodeKind(codes.Code(e.Code))
	}
	return &sdk.Error{Kind: kind, Err: errors.New(e.Message)}
}
