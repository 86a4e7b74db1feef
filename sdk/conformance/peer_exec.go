package conformance

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
)

// A peer can run as a program of its own, so `aimdb conformance --peer CMD` works for
// connectors written in any language. The kit starts CMD and talks to it in JSON
// lines: requests on the program's stdin, answers and observed messages on its stdout
// (payloads are base64, as encoding/json writes []byte):
//
//	-> {"id":1,"op":"hello"}                 <- {"id":1,"resources":{...},"outage":true,"stall":true,"connects":true}
//	-> {"id":2,"op":"observe","resource":"a"} <- {"id":2}, then {"observed":2,"payload":"aGk="} ...
//	-> {"id":3,"op":"unobserve","observed":2} <- {"id":3}
//	-> {"id":4,"op":"inject","topic":"a","payload":"aGk="} <- {"id":4} or {"id":4,"error":"..."}
//	-> {"id":5,"op":"stop"} / {"id":6,"op":"start"} <- {"id":5}             (with "outage")
//	-> {"id":7,"op":"stopreading"} / {"id":8,"op":"resumereading"} <- {"id":7} (with "stall")
//	-> {"id":9,"op":"connects"}              <- {"id":9,"connects":12}        (with "connects")
//
// ServePeer is the program side for a peer written in Go.

// peerRequest is one request to a peer program.
type peerRequest struct {
	ID       uint64 `json:"id"`
	Op       string `json:"op"`
	Resource string `json:"resource,omitempty"`
	Topic    string `json:"topic,omitempty"`
	Payload  []byte `json:"payload,omitempty"`
	Observed uint64 `json:"observed,omitempty"`
}

// peerReply is an answer (ID set) or an observed message (Observed set).
type peerReply struct {
	ID        uint64     `json:"id,omitempty"`
	Error     string     `json:"error,omitempty"`
	Resources *Resources `json:"resources,omitempty"`
	Outage    bool       `json:"outage,omitempty"`
	Stall     bool       `json:"stall,omitempty"`
	Connects  *int64     `json:"connects,omitempty"` // the count, or in hello: whether it counts
	Observed  uint64     `json:"observed,omitempty"`
	Payload   []byte     `json:"payload,omitempty"`
}

// execPeer is a Peer served by a program. It has the methods of every optional
// peer feature; features reports which ones the program offers.
type execPeer struct {
	cmd       *exec.Cmd
	resources Resources
	offers    map[string]bool

	sendMu sync.Mutex
	enc    *json.Encoder

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan peerReply
	obs     map[uint64]chan []byte
	dead    error
}

// ExecPeer starts the peer program argv and asks it what it offers. The program is
// stopped when ctx ends or with the returned stop function.
func ExecPeer(ctx context.Context, argv []string) (Peer, func(), error) {
	if len(argv) == 0 {
		return nil, nil, errors.New("peer: empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("peer: start %s: %w", argv[0], err)
	}
	p := &execPeer{cmd: cmd, enc: json.NewEncoder(in), pending: map[uint64]chan peerReply{}, obs: map[uint64]chan []byte{},
		offers: map[string]bool{}}
	go p.read(out)
	stop := func() {
		_ = in.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	hctx, cancel := context.WithTimeout(ctx, StartBound)
	defer cancel()
	hello, err := p.call(hctx, peerRequest{Op: "hello"})
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("peer %s: hello: %w", argv[0], err)
	}
	if hello.Resources != nil {
		p.resources = *hello.Resources
	}
	p.offers[featureOutage], p.offers[featureStall], p.offers[featureConnects] = hello.Outage, hello.Stall, hello.Connects != nil
	return p, stop, nil
}

func (p *execPeer) read(out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var r peerReply
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue
		}
		p.mu.Lock()
		if r.Observed != 0 && r.ID == 0 {
			if ch := p.obs[r.Observed]; ch != nil {
				select {
				case ch <- r.Payload:
				default:
				}
			}
		} else if ch := p.pending[r.ID]; ch != nil {
			delete(p.pending, r.ID)
			ch <- r
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	p.dead = errors.New("the peer program exited")
	for id, ch := range p.pending {
		delete(p.pending, id)
		ch <- peerReply{Error: p.dead.Error()}
	}
	p.mu.Unlock()
}

func (p *execPeer) call(ctx context.Context, req peerRequest) (peerReply, error) {
	return p.callWith(ctx, req, nil)
}

// callWith sends req and waits for its answer; register, when set, runs with the
// request's id before the request is sent.
func (p *execPeer) callWith(ctx context.Context, req peerRequest, register func(id uint64)) (peerReply, error) {
	ch := make(chan peerReply, 1)
	p.mu.Lock()
	if p.dead != nil {
		p.mu.Unlock()
		return peerReply{}, p.dead
	}
	p.next++
	req.ID = p.next
	p.pending[req.ID] = ch
	if register != nil {
		register(req.ID)
	}
	p.mu.Unlock()
	p.sendMu.Lock()
	err := p.enc.Encode(req)
	p.sendMu.Unlock()
	if err != nil {
		return peerReply{}, fmt.Errorf("peer program: %w", err)
	}
	select {
	case r := <-ch:
		if r.Error != "" {
			return r, errors.New(r.Error)
		}
		return r, nil
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.pending, req.ID)
		p.mu.Unlock()
		return peerReply{}, fmt.Errorf("peer program did not answer %q: %w", req.Op, ctx.Err())
	}
}

func (p *execPeer) Resources() Resources { return p.resources }

func (p *execPeer) Observe(ctx context.Context, resource string) (<-chan []byte, error) {
	ch := make(chan []byte, 1024)
	cctx, cancel := context.WithTimeout(ctx, StartBound)
	defer cancel()
	// The observation's id is the request's id: register it before the answer can come.
	var id uint64
	_, err := p.callWith(cctx, peerRequest{Op: "observe", Resource: resource}, func(n uint64) {
		id = n
		p.obs[n] = ch
	})
	if err != nil {
		p.mu.Lock()
		delete(p.obs, id)
		p.mu.Unlock()
		return nil, err
	}
	go func() {
		<-ctx.Done()
		p.mu.Lock()
		delete(p.obs, id)
		p.mu.Unlock()
		uctx, cancel := context.WithTimeout(context.Background(), StartBound)
		defer cancel()
		_, _ = p.call(uctx, peerRequest{Op: "unobserve", Observed: id})
	}()
	return ch, nil
}

func (p *execPeer) Inject(ctx context.Context, topic string, payload []byte) error {
	_, err := p.call(ctx, peerRequest{Op: "inject", Topic: topic, Payload: payload})
	return err
}

func (p *execPeer) features() map[string]bool { return p.offers }

func (p *execPeer) Stop(ctx context.Context) error {
	_, err := p.call(ctx, peerRequest{Op: "stop"})
	return err
}

func (p *execPeer) Start(ctx context.Context) error {
	_, err := p.call(ctx, peerRequest{Op: "start"})
	return err
}

func (p *execPeer) StopReading(ctx context.Context) error {
	_, err := p.call(ctx, peerRequest{Op: "stopreading"})
	return err
}

func (p *execPeer) ResumeReading(ctx context.Context) error {
	_, err := p.call(ctx, peerRequest{Op: "resumereading"})
	return err
}

// Connects asks the program for its count; -1 when it does not answer.
func (p *execPeer) Connects() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), StartBound)
	defer cancel()
	r, err := p.call(ctx, peerRequest{Op: "connects"})
	if err != nil || r.Connects == nil {
		return -1
	}
	return *r.Connects
}

// ServePeer serves p to the kit over stdin and stdout, as a peer program for
// `aimdb conformance --peer`. It returns when stdin closes.
func ServePeer(p Peer) error {
	return servePeer(p, os.Stdin, os.Stdout)
}

func servePeer(p Peer, in io.Reader, out io.Writer) error {
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	send := func(r peerReply) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	observing := map[uint64]context.CancelFunc{}
	var omu sync.Mutex
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var req peerRequest
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return fmt.Errorf("peer: bad request: %w", err)
		}
		reply := peerReply{ID: req.ID}
		var err error
		switch req.Op {
		case "hello":
			res := p.Resources()
			reply.Resources = &res
			_, reply.Outage = p.(Outage)
			_, reply.Stall = p.(Stall)
			if _, ok := p.(ConnectCounter); ok {
				reply.Connects = new(int64)
			}
		case "observe":
			octx, ocancel := context.WithCancel(ctx)
			var ch <-chan []byte
			if ch, err = p.Observe(octx, req.Resource); err != nil {
				ocancel()
				break
			}
			omu.Lock()
			observing[req.ID] = ocancel
			omu.Unlock()
			go func(id uint64) {
				for {
					select {
					case m := <-ch:
						send(peerReply{Observed: id, Payload: m})
					case <-octx.Done():
						return
					}
				}
			}(req.ID)
		case "unobserve":
			omu.Lock()
			if c := observing[req.Observed]; c != nil {
				c()
				delete(observing, req.Observed)
			}
			omu.Unlock()
		case "inject":
			go func(req peerRequest) {
				r := peerReply{ID: req.ID}
				if err := p.Inject(ctx, req.Topic, req.Payload); err != nil {
					r.Error = err.Error()
				}
				send(r)
			}(req)
			continue
		case "stop", "start":
			o, ok := p.(Outage)
			if !ok {
				err = errors.New("this peer cannot stop and start the outside system")
			} else if req.Op == "stop" {
				err = o.Stop(ctx)
			} else {
				err = o.Start(ctx)
			}
		case "stopreading", "resumereading":
			s, ok := p.(Stall)
			if !ok {
				err = errors.New("this peer cannot stop reading")
			} else if req.Op == "stopreading" {
				err = s.StopReading(ctx)
			} else {
				err = s.ResumeReading(ctx)
			}
		case "connects":
			c, ok := p.(ConnectCounter)
			if !ok {
				err = errors.New("this peer does not count connections")
			} else {
				n := c.Connects()
				reply.Connects = &n
			}
		default:
			err = fmt.Errorf("unknown op %q", req.Op)
		}
		if err != nil {
			reply.Error = err.Error()
		}
		send(reply)
	}
	return sc.Err()
}
