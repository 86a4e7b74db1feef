package plugin

import (
	"context"
	"fmt"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv1"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// InstanceSpec declares one connector instance to build in a plugin.
type InstanceSpec struct {
	// Name is the instance's name, for logs.
	Name string
	// Scheme selects the connector kind in the plugin.
	Scheme string
	// URL is the connector URL as written (with its password), or "".
	URL string
	// Options are the connector block's options.
	Options sdk.Config
	// Links are the instance's links; inbound messages carry the link's ID as route id.
	Links []Link
	// Deliver takes an inbound value of link id. It runs on the inbound stream's
	// goroutine, so it must not block for long; its error goes back to the plugin
	// as the message's acknowledgement. payload shares memory with the rest of its
	// batch (never reused): copy it to keep a small value for long.
	Deliver func(link uint32, payload []byte) error
	// Latest answers the connector's sdk.Host.Latest; nil refuses.
	Latest func(ctx context.Context, resource string) ([]byte, error)
}

// Link is one link of an instance.
type Link struct {
	ID        uint32
	Direction sdk.Direction
	Resource  string
	Options   sdk.Config
	Record    string
}

// Instance is a connector instance built in a plugin process. It survives restarts
// of the process: the supervisor builds it again in the new process.
type Instance struct {
	p    *Process
	id   uint64
	spec InstanceSpec
}

// Build builds a connector instance in the plugin.
func (p *Process) Build(ctx context.Context, spec InstanceSpec) (*Instance, error) {
	if _, ok := p.Info().Kind(spec.Scheme); !ok {
		return nil, sdk.Errorf(sdk.KindInvalidConfig, "plugin %s serves no scheme %q", p.info.Name, spec.Scheme)
	}
	g, err := p.live(ctx)
	if err != nil {
		return nil, err
	}
	// Registered before the call: a connector may deliver inbound messages while
	// Build is still returning.
	p.mu.Lock()
	p.nextInst++
	inst := &Instance{p: p, id: p.nextInst, spec: spec}
	p.insts[inst.id] = inst
	p.mu.Unlock()
	if err := inst.build(ctx, g); err != nil {
		p.mu.Lock()
		delete(p.insts, inst.id)
		p.mu.Unlock()
		return nil, err
	}
	return inst, nil
}

// build sends the Build call for the instance to generation g.
func (i *Instance) build(ctx context.Context, g *generation) error {
	req := &pb.BuildRequest{
		InstanceId:   i.id,
		Name:         i.spec.Name,
		Scheme:       i.spec.Scheme,
		Url:          i.spec.URL,
		Options:      i.spec.Options,
		HostBrokerId: g.brokerID,
	}
	for _, l := range i.spec.Links {
		req.Links = append(req.Links, &pb.Link{Id: l.ID, Direction: uint32(l.Direction), Resource: l.Resource, Options: l.Options, Record: l.Record})
	}
	cctx, cancel := context.WithTimeout(ctx, i.p.cfg.CallTimeout)
	defer cancel()
	if _, err := g.rpc.Build(cctx, req); err != nil {
		return fmt.Errorf("plugin %s: build instance %q: %w", i.p.info.Name, i.spec.Name, sdk.FromStatus(err))
	}
	return nil
}

// Name returns the instance's name.
func (i *Instance) Name() string { return i.spec.Name }

// Publish sends payloads, consecutive values of one outbound link, as one batch and
// returns once the batch is queued; done runs later with the failed messages (none
// when all were published). Many batches may be in flight; results of one link come
// back in order. Publish blocks while MaxBatchesInFlight batches wait for results
// and fails once the plugin was given up or closed. payloads must not change until
// done runs.
func (i *Instance) Publish(ctx context.Context, link uint32, payloads [][]byte, done func([]Failure)) error {
	for n, pl := range payloads {
		if len(pl) > pluginwire.MaxPayloadBytes {
			return sdk.Errorf(sdk.KindMessageTooLarge, "message %d: %d bytes exceed the plugin boundary's limit of %d", n, len(pl), pluginwire.MaxPayloadBytes)
		}
	}
	return i.p.publish(ctx, i.id, link, payloads, done)
}

// Health asks the plugin whether the instance is healthy.
func (i *Instance) Health(ctx context.Context) error {
	g, err := i.p.live(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, i.p.cfg.CallTimeout)
	defer cancel()
	resp, err := g.rpc.Health(cctx, &pb.HealthRequest{InstanceId: i.id})
	if err != nil {
		return sdk.FromStatus(err)
	}
	return errorFromPB(resp.Error)
}

// Close closes the instance in the plugin; it is not rebuilt after a restart.
func (i *Instance) Close(ctx context.Context) error {
	i.p.mu.Lock()
	_, ok := i.p.insts[i.id]
	delete(i.p.insts, i.id)
	g := i.p.gen
	i.p.mu.Unlock()
	if !ok || g == nil {
		return nil
	}
	if _, err := g.rpc.CloseInstance(ctx, &pb.CloseInstanceRequest{InstanceId: i.id}); err != nil {
		return fmt.Errorf("plugin %s: close instance %q: %w", i.p.info.Name, i.spec.Name, sdk.FromStatus(err))
	}
	return nil
}

// deliver hands an inbound value to the instance's Deliver.
func (i *Instance) deliver(link uint32, payload []byte) (err error) {
	if i.spec.Deliver == nil {
		return sdk.Errorf(sdk.KindNoRoute, "instance %q takes no inbound values", i.spec.Name)
	}
	defer func() {
		if r := recover(); r != nil {
			err = sdk.Errorf(sdk.KindRejected, "instance %q: delivering to link %d panicked: %v", i.spec.Name, link, r)
		}
	}()
	return i.spec.Deliver(link, payload)
}
