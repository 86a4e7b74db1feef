package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// This file binds the kit to a real plugin process: go-plugin's handshake and the
// generated gRPC client, without the host's supervision (no restarts), so a crash or a
// hang shows as what it is.

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

// LaunchProcess starts the plugin binary at path, completes the handshake and asks it
// to describe itself.
func LaunchProcess(ctx context.Context, path string, opts ProcessOptions) (Target, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Second
	}
	if len(opts.Versions) == 0 {
		opts.Versions = []int{pluginwire.ProtocolVersion}
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "debug"
	}
	p := &process{exited: make(chan struct{}), waiters: map[uint64]chan error{}, insts: map[uint64]*processInstance{}}
	cmd := exec.Command(path)
	cmd.Env = append(append(os.Environ(), pluginwire.LogLevelEnv+"="+opts.LogLevel), opts.Env...)
	sets := map[int]goplugin.PluginSet{}
	for _, v := range opts.Versions {
		sets[v] = goplugin.PluginSet{pluginwire.PluginName: &pluginwire.Connector{}}
	}
	hs := pluginwire.Handshake
	hs.ProtocolVersion = uint(opts.Versions[0])
	p.client = goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: sets,
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclog.NewNullLogger(),
		Stderr:           &p.stderr,
		SyncStdout:       &p.stdout,
		StartTimeout:     opts.StartTimeout,
		GRPCDialOptions:  pluginwire.DialOptions(),
	})
	fail := func(err error) (Target, error) {
		p.client.Kill()
		return nil, err
	}
	proto, err := p.client.Client()
	if err != nil {
		return fail(fmt.Errorf("plugin %s: start: %w (stderr: %s)", path, err, lastLine(p.stderr.String())))
	}
	raw, err := proto.Dispense(pluginwire.PluginName)
	if err != nil {
		return fail(fmt.Errorf("plugin %s: dispense: %w", path, err))
	}
	p.rpc = raw.(*pluginwire.Client)
	if rc := p.client.ReattachConfig(); rc != nil {
		p.pid = rc.Pid
	}
	go p.watchExit()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	desc, err := p.rpc.Describe(cctx, &pb.DescribeRequest{})
	if err != nil {
		return fail(fmt.Errorf("plugin %s: describe: %w", path, err))
	}
	p.info = infoFromPB(desc)
	sctx, scancel := context.WithCancel(context.Background())
	p.cancel = scancel
	if p.pub, err = p.rpc.Publish(sctx); err != nil {
		return fail(fmt.Errorf("plugin %s: open publish stream: %w", path, err))
	}
	if p.inb, err = p.rpc.Inbound(sctx); err != nil {
		return fail(fmt.Errorf("plugin %s: open inbound stream: %w", path, err))
	}
	if err := p.inb.Send(&pb.InboundAcks{Open: true}); err != nil {
		return fail(fmt.Errorf("plugin %s: open inbound stream: %w", path, err))
	}
	go p.readResults()
	go p.readInbound()
	return p, nil
}

// process is a Target over a go-plugin client.
type process struct {
	client *goplugin.Client
	rpc    *pluginwire.Client
	info   PluginInfo
	pid    int
	cancel context.CancelFunc
	exited chan struct{}
	stdout lockedBuffer
	stderr lockedBuffer

	sendMu sync.Mutex
	pub    pb.Connector_PublishClient
	ackMu  sync.Mutex
	inb    pb.Connector_InboundClient

	nextBatch atomic.Uint64
	nextInst  atomic.Uint64
	mu        sync.Mutex
	waiters   map[uint64]chan error
	insts     map[uint64]*processInstance
	pubDead   error
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
		if p.client.Exited() || (p.pid > 0 && !processAlive(p.pid)) {
			close(p.exited)
			return
		}
	}
}

// Shutdown sends the Shutdown call with ctx's deadline.
func (p *process) Shutdown(ctx context.Context) error {
	req := &pb.ShutdownRequest{}
	if dl, ok := ctx.Deadline(); ok {
		req.DeadlineUnixNano = dl.UnixNano()
	}
	_, err := p.rpc.Shutdown(ctx, req)
	return sdk.FromStatus(err)
}

// Kill sends SIGKILL and releases the client.
func (p *process) Kill() {
	if p.pid > 0 {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.client.Kill()
}

func (p *process) readResults() {
	for {
		m, err := p.pub.Recv()
		if err != nil {
			p.mu.Lock()
			p.pubDead = fmt.Errorf("publish stream broke: %w", err)
			ws := p.waiters
			p.waiters = map[uint64]chan error{}
			p.mu.Unlock()
			for _, w := range ws {
				w <- p.pubDead
			}
			return
		}
		for _, r := range m.Results {
			p.mu.Lock()
			w := p.waiters[r.BatchId]
			delete(p.waiters, r.BatchId)
			p.mu.Unlock()
			if w == nil {
				continue
			}
			var err error
			if len(r.Failures) > 0 {
				err = errorFromPB(r.Failures[0].Error)
			}
			w <- err
		}
	}
}

func (p *process) readInbound() {
	for {
		b, err := p.inb.Recv()
		if err != nil {
			return
		}
		ack := &pb.InboundAck{BatchId: b.BatchId}
		malformed := pluginwire.CheckInbound(b)
		off := 0
		for i, size := range b.Sizes {
			var err error
			if malformed != nil {
				err = sdk.Wrap(sdk.KindRejected, malformed)
			} else {
				payload := b.Data[off : off+int(size)]
				off += int(size)
				p.mu.Lock()
				in := p.insts[b.InstanceIds[i]]
				p.mu.Unlock()
				switch {
				case in == nil:
					err = sdk.Errorf(sdk.KindClosed, "no instance %d", b.InstanceIds[i])
				case in.spec.Deliver == nil:
					err = sdk.Errorf(sdk.KindNoRoute, "instance %q takes no inbound messages", in.spec.Name)
				default:
					err = in.spec.Deliver(b.RouteIds[i], payload)
				}
			}
			if err != nil {
				ack.Failures = append(ack.Failures, &pb.Failure{Index: uint32(i), Error: errorToPB(err)})
			}
		}
		p.ackMu.Lock()
		err = p.inb.Send(&pb.InboundAcks{Acks: []*pb.InboundAck{ack}})
		p.ackMu.Unlock()
		if err != nil {
			return
		}
	}
}

// Build sends a Build call.
func (p *process) Build(ctx context.Context, spec InstanceSpec) (Instance, error) {
	in := &processInstance{p: p, id: p.nextInst.Add(1), spec: spec}
	req := &pb.BuildRequest{InstanceId: in.id, Name: spec.Name, Scheme: spec.Scheme, Url: spec.URL, Options: spec.Options}
	for _, l := range spec.Links {
		req.Links = append(req.Links, &pb.Link{Id: l.ID, Direction: uint32(l.Direction), Resource: l.Resource, Options: l.Options, Record: "conformance." + spec.Name})
	}
	p.mu.Lock()
	p.insts[in.id] = in
	p.mu.Unlock()
	if err := p.call(ctx, func(ctx context.Context) error { _, err := p.rpc.Build(ctx, req); return err }); err != nil {
		p.mu.Lock()
		delete(p.insts, in.id)
		p.mu.Unlock()
		return nil, err
	}
	return in, nil
}

// call runs a unary call and returns early with an error when the process exits.
func (p *process) call(ctx context.Context, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sdk.FromStatus(f(ctx)) }()
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
}

func (in *processInstance) Publish(ctx context.Context, link uint32, payload []byte) error {
	p := in.p
	id := p.nextBatch.Add(1)
	w := make(chan error, 1)
	p.mu.Lock()
	if p.pubDead != nil {
		err := p.pubDead
		p.mu.Unlock()
		return err
	}
	p.waiters[id] = w
	p.mu.Unlock()
	forget := func() {
		p.mu.Lock()
		delete(p.waiters, id)
		p.mu.Unlock()
	}
	p.sendMu.Lock()
	err := p.pub.Send(&pb.PublishBatch{BatchId: id, InstanceId: in.id, LinkId: link, Payloads: [][]byte{payload}})
	p.sendMu.Unlock()
	if err != nil {
		forget()
		return fmt.Errorf("publish stream: %w", err)
	}
	select {
	case err := <-w:
		return err
	case <-p.exited:
		forget()
		return sdk.Errorf(sdk.KindConnectionFailed, "plugin process exited")
	case <-ctx.Done():
		forget()
		return sdk.Wrap(sdk.KindTimeout, fmt.Errorf("no publish result: %w", ctx.Err()))
	}
}

func (in *processInstance) Health(ctx context.Context) error {
	var resp *pb.HealthResponse
	err := in.p.call(ctx, func(ctx context.Context) (err error) {
		resp, err = in.p.rpc.Health(ctx, &pb.HealthRequest{InstanceId: in.id})
		return err
	})
	if err != nil {
		return err
	}
	return errorFromPB(resp.Error)
}

func (in *processInstance) Close(ctx context.Context) error {
	err := in.p.call(ctx, func(ctx context.Context) error {
		_, err := in.p.rpc.CloseInstance(ctx, &pb.CloseInstanceRequest{InstanceId: in.id})
		return err
	})
	in.p.mu.Lock()
	delete(in.p.insts, in.id)
	in.p.mu.Unlock()
	return err
}

func infoFromPB(d *pb.DescribeResponse) PluginInfo {
	info := PluginInfo{ProtocolVersion: int(d.ProtocolVersion), SDKVersion: d.SdkVersion}
	if l := d.Limits; l != nil {
		info.MaxMessageBytes, info.MaxBatchMessages, info.MaxBatchBytes, info.MaxBatchesInFlight = l.MaxMessageBytes, l.MaxBatchMessages, l.MaxBatchBytes, l.MaxBatchesInFlight
	}
	for _, k := range d.Kinds {
		kind := Kind{Scheme: k.Scheme, Description: sdk.Description{Version: k.Version, Capabilities: k.Capabilities, MaxPayload: int(k.MaxPayload)}}
		for _, o := range k.Options {
			kind.Options = append(kind.Options, sdk.OptionDoc{Name: o.Name, Scope: o.Scope, Doc: o.Doc, Default: o.Default, Secret: o.Secret})
		}
		info.Kinds = append(info.Kinds, kind)
	}
	return info
}

// errorToPB and errorFromPB carry errors through the SDK's kind/code table.
func errorToPB(err error) *pb.Error { return pluginwire.StatusToPB(sdk.ToStatus(err)) }

func errorFromPB(e *pb.Error) error { return sdk.FromStatus(pluginwire.StatusFromPB(e)) }

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
		return fmt.Errorf("build an instance: %w", sdk.FromStatus(err))
	}
	return nil
}
