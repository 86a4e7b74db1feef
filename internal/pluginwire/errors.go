package pluginwire

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
)

// StatusToPB puts a gRPC status error (as sdk.ToStatus makes it) into a result
// field; nil stays nil. The kind/code table itself lives in package sdk.
func StatusToPB(err error) *pb.Error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	return &pb.Error{Code: uint32(st.Code()), Message: st.Message()}
}

// StatusFromPB turns a result field back into a gRPC status error for
// sdk.FromStatus; nil stays nil.
func StatusFromPB(e *pb.Error) error {
	if e == nil {
		return nil
	}
	return status.Error(codes.Code(e.Code), e.Message)
}
