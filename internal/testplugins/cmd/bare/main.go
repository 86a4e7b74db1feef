// Command bare is the benchmark baseline: the same wire messages and go-plugin
// transport (handshake, gRPC limits) as an SDK plugin, but a data stream that does no
// per-message work. Every publish batch is answered with an empty result, several
// results to a frame when they pile up; when the host's opening frame carries an
// acknowledgement, bare streams inbound batches of pluginwire.MaxBatchMessages
// messages: the ack's batch_id is the message count, its first failure's index the
// payload size.
package main

import (
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
)

type bare struct {
	pb.UnimplementedConnectorServer
}

func (bare) Data(s pb.Connector_DataServer) error {
	open, err := s.Recv()
	if err != nil {
		return err
	}
	frames := make(chan *pb.PluginFrame, 64)
	slots := make(chan struct{}, pluginwire.MaxInboundInFlight)
	sendErr := make(chan error, 1)
	go func() {
		for f := range frames {
			for more := true; more; { // results that piled up share the frame
				select {
				case g := <-frames:
					f.Results = append(f.Results, g.Results...)
					if g.Inbound != nil {
						if err := s.Send(f); err != nil {
							sendErr <- err
							return
						}
						f = &pb.PluginFrame{Inbound: g.Inbound}
					}
				default:
					more = false
				}
			}
			if err := s.Send(f); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	if len(open.Acks) > 0 {
		count, size := int(open.Acks[0].BatchId), int(open.Acks[0].Failures[0].Index)
		go stream(frames, slots, count, size)
	}
	for {
		f, err := s.Recv()
		if err != nil {
			close(frames)
			<-sendErr
			return nil
		}
		for range f.Acks {
			select {
			case <-slots:
			default:
			}
		}
		if len(f.Publish) > 0 {
			out := &pb.PluginFrame{}
			for _, b := range f.Publish {
				out.Results = append(out.Results, &pb.BatchResult{BatchId: b.BatchId})
			}
			frames <- out
		}
	}
}

// stream sends count inbound messages of size bytes in full batches, keeping at most
// MaxInboundInFlight unacknowledged.
func stream(frames chan<- *pb.PluginFrame, slots chan struct{}, count, size int) {
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
		frames <- &pb.PluginFrame{Inbound: b}
		sent += n
	}
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
