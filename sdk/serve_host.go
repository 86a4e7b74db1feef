package sdk

import (
	"context"
	"sync"

	"github.com/hashicorp/go-plugin"

	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv1"
)

// hostControl dials the host's HostControl service over the go-plugin broker, once
// per broker id, on first use: Latest is a control call, kept off the data streams.
type hostControl struct {
	broker *plugin.GRPCBroker

	mu      sync.Mutex
	clients map[uint32]pb.HostControlClient
}

// forInstance returns the Host of one instance; brokerID 0 means the host serves none.
func (h *hostControl) forInstance(brokerID uint32, inst uint64) Host {
	if brokerID == 0 || h.broker == nil {
		return noHost{}
	}
	return &remoteHost{ctl: h, brokerID: brokerID, inst: inst}
}

func (h *hostControl) client(id uint32) (pb.HostControlClient, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.clients[id]; ok {
		return c, nil
	}
	conn, err := h.broker.Dial(id)
	if err != nil {
		return nil, Errorf(KindConnectionFailed, "dial host control: %w", err)
	}
	if h.clients == nil {
		h.clients = map[uint32]pb.HostControlClient{}
	}
	c := pb.NewHostControlClient(conn)
	h.clients[id] = c
	return c, nil
}

// remoteHost is the Host of an instance served in a plugin process.
type remoteHost struct {
	ctl      *hostControl
	brokerID uint32
	inst     uint64
}

// Latest asks the host for the newest value linked to resource.
func (r *remoteHost) Latest(ctx context.Context, resource string) ([]byte, error) {
	c, err := r.ctl.client(r.brokerID)
	if err != nil {
		return nil, err
	}
	resp, err := c.Latest(ctx, &pb.LatestRequest{InstanceId: r.inst, Resource: resource})
	if err != nil {
		return nil, FromStatus(err)
	}
	return resp.Value, nil
}
