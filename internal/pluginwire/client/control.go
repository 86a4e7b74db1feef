package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Link is one link of an instance, as Build and Validate carry it.
type Link struct {
	ID        uint32
	Direction sdk.Direction
	Resource  string
	Options   sdk.Config
	Record    string
}

// InstanceSpec declares one connector instance to build in a plugin.
type InstanceSpec struct {
	// ID is chosen by the host, unique within the process.
	ID uint64
	// Name is the instance's name, for logs.
	Name string
	// Scheme selects the connector kind in the plugin.
	Scheme string
	// URL is the connector URL as written (with its password), or "".
	URL string
	// Options are the connector block's options.
	Options sdk.Config
	// Linger is how long the plugin may hold what the instance sends the host while
	// messages flow; 0 sends at once.
	Linger time.Duration
	// Links are the instance's links; inbound messages carry the link's ID as route id.
	Links []Link
}

func linksToPB(links []Link) []*pb.Link {
	out := make([]*pb.Link, len(links))
	for i, l := range links {
		out[i] = &pb.Link{Id: l.ID, Direction: uint32(l.Direction), Resource: l.Resource, Options: l.Options, Record: l.Record}
	}
	return out
}

// call runs a control call within CallTimeout and names the plugin in its error.
func (c *Conn) call(ctx context.Context, what string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		return fmt.Errorf("plugin %s: %s: %w", c.info.Name, what, pluginwire.FromStatus(err))
	}
	return nil
}

// Build builds a connector instance in the plugin.
func (c *Conn) Build(ctx context.Context, spec InstanceSpec) error {
	req := &pb.BuildRequest{InstanceId: spec.ID, Name: spec.Name, Scheme: spec.Scheme, Url: spec.URL,
		Options: spec.Options, LingerNanos: int64(spec.Linger), Links: linksToPB(spec.Links)}
	return c.call(ctx, fmt.Sprintf("build instance %q", spec.Name), func(ctx context.Context) error {
		_, err := c.rpc.Build(ctx, req)
		return err
	})
}

// Validate asks the plugin to check an instance's URL, options and links. It
// returns every mistake the plugin found, joined: each an *sdk.Error of its kind
// around an *sdk.OptionError naming the option and link (one of links) it is about,
// when the plugin said.
func (c *Conn) Validate(ctx context.Context, scheme, url string, options sdk.Config, links []Link) error {
	var resp *pb.ValidateConfigResponse
	err := c.call(ctx, "validate", func(ctx context.Context) (err error) {
		resp, err = c.rpc.ValidateConfig(ctx, &pb.ValidateConfigRequest{Scheme: scheme, Url: url, Options: options, Links: linksToPB(links)})
		return err
	})
	if err != nil {
		return err
	}
	if len(resp.Findings) == 0 {
		return pluginwire.ErrorFromPB(resp.Error) // a plugin that reports no findings
	}
	return findingsFromPB(resp.Findings, links)
}

// findingsFromPB turns a plugin's findings back into the errors its validator
// returned, each tied to its link (by id, among links) and option.
func findingsFromPB(fs []*pb.Finding, links []Link) error {
	errs := make([]error, 0, len(fs))
	for _, f := range fs {
		err := pluginwire.ErrorFromPB(f.Error)
		if err == nil {
			continue
		}
		if f.Option != "" {
			err = sdk.AtOption(f.Option, err)
		}
		if f.OnLink {
			for _, l := range links {
				if l.ID == f.LinkId {
					err = sdk.ForLink(sdk.LinkSpec{ID: l.ID, Direction: l.Direction, Resource: l.Resource, Config: l.Options, Record: l.Record}, err)
					break
				}
			}
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Health asks the plugin whether instance id is healthy.
func (c *Conn) Health(ctx context.Context, id uint64) error {
	_, err := c.HealthMetrics(ctx, id)
	return err
}

// HealthMetrics is Health that also returns the metrics the instance keeps itself
// (sdk.MetricsReporter); they come with an unhealthy answer too.
func (c *Conn) HealthMetrics(ctx context.Context, id uint64) ([]sdk.Metric, error) {
	var resp *pb.HealthResponse
	err := c.call(ctx, "health", func(ctx context.Context) (err error) {
		resp, err = c.rpc.Health(ctx, &pb.HealthRequest{InstanceId: id})
		return err
	})
	if err != nil {
		return nil, err
	}
	var ms []sdk.Metric
	for _, m := range resp.Metrics {
		ms = append(ms, sdk.Metric{Name: m.Name, Help: m.Help, Kind: sdk.MetricKind(m.Kind), Value: m.Value})
	}
	return ms, pluginwire.ErrorFromPB(resp.Error)
}

// CloseInstance closes instance id in the plugin.
func (c *Conn) CloseInstance(ctx context.Context, id uint64, name string) error {
	return c.call(ctx, fmt.Sprintf("close instance %q", name), func(ctx context.Context) error {
		_, err := c.rpc.CloseInstance(ctx, &pb.CloseInstanceRequest{InstanceId: id})
		return err
	})
}

// Shutdown asks the plugin to close every instance before ctx's deadline.
func (c *Conn) Shutdown(ctx context.Context) error {
	req := &pb.ShutdownRequest{}
	if dl, ok := ctx.Deadline(); ok {
		req.DeadlineUnixNano = dl.UnixNano()
	}
	if _, err := c.rpc.Shutdown(ctx, req); err != nil {
		return fmt.Errorf("plugin %s: shutdown: %w", c.info.Name, pluginwire.FromStatus(err))
	}
	return nil
}
