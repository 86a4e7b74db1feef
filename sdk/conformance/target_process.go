package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/internal/pluginwire/client"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// This file binds the kit to a real plugin process through the host's own wire client
// (internal/pluginwire/client), without the host's supervision (no restarts), so a
// crash or a hang shows as what it is, and a plugin passes the kit through the code
// the host runs.

// ProcessOptions tunes LaunchProcess; the zero value is usable.
type ProcessOptions struct {
	// StartTimeout bounds the handshake. Default 10 s.
	StartTimeout time.Duration
	// Versions are the protocol versions the host offers. Default: the one this build speaks.
	Versions []int
	// LogLevel asks the plugin for this log level. Default "debug", so the secrets
	// check sees as much as the plugin can log.
	LogLevel string
	// Env is added to the plugin's environment.
	Env []string
}

// LaunchProcess starts the plugin binary at path, completes the handshake, asks it
// to describe itself and opens its data stream.
func LaunchProcess(ctx context.Context, path string, opts ProcessOptions) (Target, error) {
	if opts.LogLevel == "" {
		opts.LogLevel = "debug"
	}
	p := &process{exited: make(chan struct{}), insts: map[uint64]*processInstance{}}
	c, err := client.Launch(ctx, path, client.Options{
		StartTimeout: opts.StartTimeout, Versions: opts.Versions, LogLevel: opts.LogLevel, Env: opts.Env,
		Stderr: &p.stderr, Stdout: &p.stdout,
	})
	if err != nil {
		return nil, err
	}
	p.conn, p.pid = c, c.Pid()
	p.info = infoFrom(c.Info())
	go p.watchExit()
	if p.data, err = c.OpenData(client.Handler{Deliver: p.deliver}); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// process is a Target over the wire client.
type process struct {
	conn   *client.Conn
	data   *client.Data
	info   PluginInfo
	pid    int
	exited chan struct{}
	stdout lockedBuffer
	stderr lockedBuffer

	nextInst atomic.Uint64
	mu       sync.Mutex
	insts    map[uint64]*processInstance
}

func (p *process) Info() PluginInfo        { return p.info }
func (p *process) Pid() int                { return p.pid }
func (p *process) Exited() <-chan struct{} { return p.exited }
func (p *process) Stdout() string          { return p.stdout.String() }
func (p *process) Stderr() string          { return p.stderr.String() }

func (p *process) watchExit() {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		if p.conn.Exited() || (p.pid > 0 && !processAlive(p.pid)) {
			close(p.exited)
			return
		}
	}
}

// waitStderrRead waits up to d, after the process exited, until its stderr is read
// to the end (the wire client then reports it exited).
func (p *process) waitStderrRead(d time.Duration) {
	deadline := time.Now().Add(d)
	for !p.conn.Exited() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// Shutdown sends the Shutdown call with ctx's deadline.
func (p *process) Shutdown(ctx context.Context) error { return p.conn.Shutdown(ctx) }

// Kill sends SIGKILL and releases the client.
func (p *process) Kill() {
	if p.pid > 0 {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
	if p.data != nil {
		p.data.Close()
	}
	p.conn.Kill()
}

// deliver hands an inbound message to its instance's Deliver. A message that crossed
// as a prefix because it exceeded the boundary is refused as too large, as the host
// refuses it (after dead-lettering it).
func (p *process) deliver(m client.Inbound, settle func(error)) (error, bool) {
	p.mu.Lock()
	in := p.insts[m.Instance]
	p.mu.Unlock()
	switch {
	case in == nil:
		return sdk.Errorf(sdk.KindClosed, "no instance %d", m.Instance), true
	case m.Size > len(m.Payload):
		return sdk.Errorf(sdk.KindMessageTooLarge, "inbound message of %d bytes exceeds the plugin boundary", m.Size), true
	case in.spec.DeliverAsync != nil:
		in.spec.DeliverAsync(m.Route, append([]byte(nil), m.Payload...), settle)
		return nil, false
	case in.spec.Deliver == nil:
		return sdk.Errorf(sdk.KindNoRoute, "instance %q takes no inbound messages", in.spec.Name), true
	}
	return in.spec.Deliver(m.Route, m.Payload), true
}

// Build sends a Build call.
func (p *process) Build(ctx context.Context, spec InstanceSpec) (Instance, error) {
	in := &processInstance{p: p, id: p.nextInst.Add(1), spec: spec, epochs: map[uint32]uint32{}}
	cs := client.InstanceSpec{ID: in.id, Name: spec.Name, Scheme: spec.Scheme, URL: spec.URL, Options: spec.Options}
	for _, l := range spec.Links {
		cs.Links = append(cs.Links, client.Link{ID: l.ID, Direction: l.Direction, Resource: l.Resource, Options: l.Options, Record: "conformance." + spec.Name})
	}
	p.mu.Lock()
	p.insts[in.id] = in
	p.mu.Unlock()
	if err := p.call(ctx, func(ctx context.Context) error { return p.conn.Build(ctx, cs) }); err != nil {
		p.mu.Lock()
		delete(p.insts, in.id)
		p.mu.Unlock()
		return nil, err
	}
	return in, nil
}

// call runs a control call and returns early with an error when the process exits.
func (p *process) call(ctx context.Context, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case <-p.exited:
		return sdk.Errorf(sdk.KindConnectionFailed, "plugin process exited")
	}
}

// processInstance is an Instance in a process.
type processInstance struct {
	p    *process
	id   uint64
	spec InstanceSpec

	mu     sync.Mutex
	epochs map[uint32]uint32 // per link: bumped after a retryable failure, as the host does
}

// oneBatch is a Feed of a single message.
type oneBatch struct {
	mu sync.Mutex
	b  *client.Batch
}

func (o *oneBatch) Cut(int, int) (client.Batch, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.b == nil {
		return client.Batch{}, false
	}
	b := *o.b
	o.b = nil
	return b, true
}

// Abandon fails the message: the stream died before it was sent.
func (o *oneBatch) Abandon(err error) {
	if b, ok := o.Cut(0, 0); ok {
		b.Done([]client.Failure{{Index: 0, Err: err}})
	}
}

// Publish sends one payload as a batch of its own, with ctx's deadline, and waits
// for its result.
func (in *processInstance) Publish(ctx context.Context, link uint32, payload []byte) error {
	in.mu.Lock()
	epoch := in.epochs[link]
	in.mu.Unlock()
	res := make(chan error, 1)
	deadline, _ := ctx.Deadline()
	f := &oneBatch{b: &client.Batch{Instance: in.id, Link: link, Epoch: epoch, Payloads: [][]byte{payload}, Deadline: deadline,
		Done: func(fs []client.Failure) {
			if len(fs) > 0 {
				res <- fs[0].Err
				return
			}
			res <- nil
		}}}
	if err := in.p.data.Ready(f); err != nil {
		return err
	}
	err := awaitResult(ctx, res, in.p.exited)
	if sdk.Retryable(err) {
		in.mu.Lock()
		in.epochs[link] = epoch + 1
		in.mu.Unlock()
	}
	return err
}

func (in *processInstance) Health(ctx context.Context) error {
	return in.p.call(ctx, func(ctx context.Context) error { return in.p.conn.Health(ctx, in.id) })
}

func (in *processInstance) Close(ctx context.Context) error {
	err := in.p.call(ctx, func(ctx context.Context) error { return in.p.conn.CloseInstance(ctx, in.id, in.spec.Name) })
	in.p.mu.Lock()
	delete(in.p.insts, in.id)
	in.p.mu.Unlock()
	return err
}

// infoFrom converts the client's description.
func infoFrom(i client.Info) PluginInfo {
	info := PluginInfo{ProtocolVersion: i.ProtocolVersion, SDKVersion: i.SDKVersion,
		MaxMessageBytes: i.Limits.MaxMessageBytes, MaxBatchMessages: i.Limits.MaxBatchMessages,
		MaxBatchBytes: i.Limits.MaxBatchBytes, MaxBatchesInFlight: i.Limits.MaxBatchesInFlight}
	for _, k := range i.Kinds {
		info.Kinds = append(info.Kinds, Kind{Scheme: k.Scheme, Description: k.Description})
	}
	return info
}

// processAlive reports whether pid runs and is not a zombie.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return !errors.Is(err, syscall.ESRCH)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no procfs: trust kill(0)
	}
	// The state follows the parenthesised command name.
	for i := len(b) - 1; i > 0; i-- {
		if b[i] == ')' && i+2 < len(b) {
			return b[i+2] != 'Z' && b[i+2] != 'X'
		}
	}
	return true
}

// lockedBuffer collects a process's output, keeping the last 1 MiB.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 1<<20 {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-1<<20:]...)
	}
	b.mu.Unlock()
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// buildDirect builds one instance over a plain gRPC connection to a plugin at
// "network:address" that was started without go-plugin's client (and so without
// AutoMTLS), as checkHostDies does.
func (r *runner) buildDirect(addr string) error {
	network, address, _ := strings.Cut(addr, ":")
	target := address
	if network == "unix" {
		target = "unix:" + address
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connect to the plugin at %s: %w", addr, err)
	}
	defer conn.Close()
	ctx, cancel := r.timeout()
	defer cancel()
	l := r.out(r.resource(0))
	_, err = pb.NewConnectorClient(conn).Build(ctx, &pb.BuildRequest{InstanceId: 1, Name: "host-dies", Scheme: r.kind.Scheme,
		Url: r.cfg.URL, Options: r.cfg.Options,
		Links: []*pb.Link{{Id: l.ID, Direction: uint32(l.Direction), Resource: l.Resource, Options: l.Options, Record: "conformance.host-dies"}}})
	if err != nil {
		return fmt.Errorf("build an instance: %w", pluginwire.FromStatus(err))
	}
	return nil
}
