// Command bare is the benchmark baseline: the same wire messages and go-plugin
// transport (handshake, AutoMTLS, gRPC limits) as an SDK plugin, but handlers that do
// no per-message work. Publish answers every batch with an empty result;
// Inbound streams count messages of size bytes in batches of pluginwire.MaxBatchMessages,
// where the host's opening message carries count in Acks[0].BatchId and size in
// Acks[0].Failures[0].Index.
package main

import (
	"io"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
)

type bare struct {
	pb.UnimplementedConnectorServer
}

func (bare) Publish(s pb.Connector_PublishServer) error {
	// Results go out from a second goroutine, several in one message when they pile
	// up, as the SDK does, so the baseline pays no more per batch than necessary.
	ids := make(chan uint64, pluginwire.MaxBatchesInFlight)
	sendErr := make(chan error, 1)
	go func() {
		for id := range ids {
			res := &pb.PublishResults{Results: []*pb.BatchResult{{BatchId: id}}}
			for more := true; more; {
				select {
				case id := <-ids:
					res.Results = append(res.Results, &pb.BatchResult{BatchId: id})
				default:
					more = false
				}
			}
			if err := s.Send(res); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	for {
		b, err := s.Recv()
		if err != nil {
			close(ids)
			<-sendErr
			if err == io.EOF {
				return nil
			}
			return err
		}
		ids <- b.BatchId
	}
}

func (bare) Inbound(s pb.Connector_InboundServer) error {
	open, err := s.Recv()
	if err != nil {
		return err
	}
	count, size := int(open.Acks[0].BatchId), int(open.Acks[0].Failures[0].Index)
	slots := make(chan struct{}, pluginwire.MaxInboundInFlight)
	go func() {
		for {
			m, err := s.Recv()
			if err != nil {
				return
			}
			for range m.Acks {
				<-slots
			}
		}
	}()
	data := make([]byte, pluginwire.MaxBatchMessages*size)
	var id uint64
	for sent := 0; sent < count; {
		n := min(pluginwire.MaxBatchMessages, count-sent)
		b := &pb.InboundBatch{InstanceIds: make([]uint64, n), RouteIds: make([]uint32, n), Sizes: make([]uint32, n), Data: data[:n*size]}
		for i := range b.Sizes {
			b.InstanceIds[i], b.RouteIds[i], b.Sizes[i] = 1, 1, uint32(size)
		}
		id++
		b.BatchId = id
		slots <- struct{}{}
		if err := s.Send(b); err != nil {
			return err
		}
		sent += n
	}
	<-s.Context().Done()
	return nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: pluginwire.Handshake,
		VersionedPlugins: pluginwire.PluginSets(&pluginwire.Connector{Register: func(_ *plugin.GRPCBroker, s *grpc.Server) {
			pb.RegisterConnectorServer(s, bare{})
		}}),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, pluginwire.ServerOptions()...)...)
		},
	})
}
