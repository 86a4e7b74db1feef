package benchbridge

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Broker is a mosquitto started for one run, listening on 127.0.0.1 only.
type Broker struct {
	// Port is its TCP port on 127.0.0.1.
	Port int
	proc *Proc
}

// brokerConfig is mosquitto's configuration: no queue limits (else mosquitto drops
// QoS 0 messages to a slow subscriber and every figure is wrong), nothing on disk.
const brokerConfig = `per_listener_settings false
listener %d 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_queued_bytes 0
log_dest stdout
log_type error
log_type warning
`

// startBroker starts mosquitto (the binary at bin) with its files in dir and waits
// until it accepts TCP connections.
func startBroker(ctx context.Context, bin, dir string) (*Broker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, brokerConfig, port), 0o644); err != nil {
		return nil, fmt.Errorf("mosquitto config: %w", err)
	}
	p, err := startProc("mosquitto", dir, filepath.Join(dir, "mosquitto.log"), nil, bin, "-c", conf)
	if err != nil {
		return nil, err
	}
	b := &Broker{Port: port, proc: p}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return b, nil
		}
		if exited, werr := p.Exited(); exited {
			return nil, fmt.Errorf("mosquitto on %s exited at start (%v): %s", addr, werr, p.LogTail(500))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = p.Stop()
			return nil, fmt.Errorf("mosquitto on %s: not listening after 10 s", addr)
		}
	}
}

// Stop stops the broker by PID.
func (b *Broker) Stop() error { return b.proc.Stop() }

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port on 127.0.0.1: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
