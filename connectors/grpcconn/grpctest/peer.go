package grpctest

import (
	"context"
	"strings"

	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn/grpctest/testpb"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// Peer is the server as the conformance kit's peer. gRPC methods are typed, so one
// resource cannot be both a link_to's unary method and a link_from's server stream:
// Outbound peers name the unary methods Put, PutB and PutC, inbound peers the
// streams Watch, WatchB and WatchC. Values travel as they are in the readings'
// "data" field (link option payload_field = "data").
type Peer struct {
	S       *Server
	methods []string
}

// OutboundPeer is the peer for the kit's link_to checks.
func (s *Server) OutboundPeer() *Peer { return &Peer{S: s, methods: []string{"Put", "PutB", "PutC"}} }

// InboundPeer is the peer for the kit's link_from checks.
func (s *Server) InboundPeer() *Peer {
	return &Peer{S: s, methods: []string{"Watch", "WatchB", "WatchC"}}
}

// Resources names the peer's methods as link resources.
func (p *Peer) Resources() conformance.Resources {
	names := make([]string, len(p.methods))
	for i, m := range p.methods {
		names[i] = Service + "/" + m
	}
	return conformance.Resources{Names: names}
}

// method returns the method name of a resource.
func method(resource string) string { return resource[strings.LastIndex(resource, "/")+1:] }

// Observe returns the data of the readings resource's method receives.
func (p *Peer) Observe(ctx context.Context, resource string) (<-chan []byte, error) {
	calls := p.S.Observe(ctx, method(resource))
	out := make(chan []byte, 8192)
	go func() {
		for {
			select {
			case c := <-calls:
				select {
				case out <- c.Reading.GetData():
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Inject streams a reading with payload as its data to topic's open streams.
func (p *Peer) Inject(ctx context.Context, topic string, payload []byte) error {
	return p.S.Send(ctx, method(topic), &testpb.Reading{Data: payload})
}

// Stop stops the server.
func (p *Peer) Stop(context.Context) error {
	p.S.Stop()
	return nil
}

// Start starts it again at the same address.
func (p *Peer) Start(context.Context) error { return p.S.Restart() }
