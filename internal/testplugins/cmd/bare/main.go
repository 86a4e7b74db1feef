// Command bare is the benchmark baseline: the same wire messages and go-plugin
// transport (handshake, gRPC limits) as an SDK plugin, but a data stream that does no
// per-message work. Every publish batch is answered with an empty result, several
// results to a frame when they pile up. Building an instance with the option
// generate = "count:size:window" streams count inbound messages of size bytes in
// batches of at most window messages, with at most window messages unacknowledged,
// as the loopback connector's generator does through the SDK.
package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
)

type bare struct {
	pb.UnimplementedConnectorServer
	frames chan *pb.PluginFrame
	acked  chan int // messages acknowledged
	mu     sync.Mutex
	sizes  map[uint64]int // inbound batch id -> messages
}

func (b *bare) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{ProtocolVersion: pluginwire.ProtocolVersion, Kinds: []*pb.Kind{{Scheme: "bare"}}}, nil
}

func (b *bare) Build(_ context.Context, req *pb.BuildRequest) (*pb.BuildResponse, error) {
	if g := req.Options["generate"]; g != "" {
		var count, size, window int
		if _, err := fmt.Sscanf(g, "%d:%d:%d", &count, &size, &window); err != nil || window < 1 {
			return nil, fmt.Errorf("generate: want count:size:window, got %q", g)
		}
		go b.stream(count, size, window)
	}
	return &pb.BuildResponse{}, nil
}

func (b *bare) Data(s pb.Connector_DataServer) error {
	if _, err := s.Recv(); err != nil {
		return err
	}
	sendErr := make(chan error, 1)
	go func() {
		for f := range b.frames {
			for more := true; more && f.Inbound == nil; { // results that piled up share a frame
				select {
				case g := <-b.frames:
					f.Results = append(f.Results, g.Results...)
					f.Inbound = g.Inbound
				default:
					more = false
				}
			}
			if err := s.Send(f); err != nil {
				sendErr <- err
				return
			}
		}
	}()
	for {
		f, err := s.Recv()
		if err != nil {
			return nil
		}
		for _, a := range f.Acks {
			b.mu.Lock()
			n := b.sizes[a.BatchId]
			delete(b.sizes, a.BatchId)
			b.mu.Unlock()
			b.acked <- n
		}
		if len(f.Publish) > 0 {
			out := &pb.PluginFrame{}
			for _, p := range f.Publish {
				out.Results = append(out.Results, &pb.BatchResult{BatchId: p.BatchId})
			}
			b.frames <- out
		}
	}
}

// stream sends count messages of size bytes, at most window unacknowledged.
func (b *bare) stream(count, size, window int) {
	data := make([]byte, window*size)
	outstanding := 0
	var id uint64
	for sent := 0; sent < count; {
		for outstanding >= window {
			outstanding -= <-b.acked
		}
		n := min(window-outstanding, count-sent)
		batch := &pb.InboundBatch{InstanceIds: make([]uint64, n), RouteIds: make([]uint32, n), Sizes: make([]uint32, n), Data: data[:n*size]}
		for i := range batch.Sizes {
			batch.InstanceIds[i], batch.RouteIds[i], batch.Sizes[i] = 1, 1, uint32(size)
		}
		id++
		batch.BatchId = id
		b.mu.Lock()
		b.sizes[id] = n
		b.mu.Unlock()
		b.frames <- &pb.PluginFrame{Inbound: batch}
		sent += n
		outstanding += n
	}
}

func main() {
	b := &bare{frames: make(chan *pb.PluginFrame, 1024), acked: make(chan int, 1024), sizes: map[uint64]int{}}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: pluginwire.Handshake,
		VersionedPlugins: pluginwire.PluginSets(&pluginwire.Connector{Register: func(_ *plugin.GRPCBroker, s *grpc.Server) {
			pb.RegisterConnectorServer(s, b)
		}}),
		GRPCServer: pluginwire.NewServer,
	})
}
