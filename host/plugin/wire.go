package plugin

import (
	"context"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv1"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// errorToPB encodes err through sdk.ToStatus, the one kind/code table.
func errorToPB(err error) *pb.Error { return pluginwire.StatusToPB(sdk.ToStatus(err)) }

// errorFromPB decodes an error through sdk.FromStatus.
func errorFromPB(e *pb.Error) error { return sdk.FromStatus(pluginwire.StatusFromPB(e)) }

// hostControl serves a plugin's questions about records (sdk.Host.Latest).
type hostControl struct {
	pb.UnimplementedHostControlServer
	p *Process
}

// Latest answers with the instance's Latest function.
func (h *hostControl) Latest(ctx context.Context, req *pb.LatestRequest) (*pb.LatestResponse, error) {
	inst := h.p.instance(req.InstanceId)
	if inst == nil {
		return nil, sdk.ToStatus(sdk.Errorf(sdk.KindClosed, "no instance %d", req.InstanceId))
	}
	if inst.spec.Latest == nil {
		return nil, sdk.ToStatus(sdk.Errorf(sdk.KindRejected, "instance %q: the host serves no latest values", inst.spec.Name))
	}
	v, err := inst.spec.Latest(ctx, req.Resource)
	if err != nil {
		return nil, sdk.ToStatus(err)
	}
	return &pb.LatestResponse{Value: v}, nil
}
