package serve

import (
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// metricsToPB converts metrics for the Health response.
func metricsToPB(ms []sdk.Metric) []*pb.Metric {
	if len(ms) == 0 {
		return nil
	}
	out := make([]*pb.Metric, len(ms))
	for i, m := range ms {
		out[i] = &pb.Metric{Name: m.Name, Help: m.Help, Kind: uint32(m.Kind), Value: m.Value}
	}
	return out
}
