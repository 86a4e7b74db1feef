// Package kafkatest starts a Kafka peer for tests: franz-go's in-process kfake broker
// on a free 127.0.0.1 port, with its state on disk so it can be stopped and restarted
// on the same port, and finds the kcat command-line client.
package kafkatest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/aimdb-dev/aimdb-go/internal/testport"
)

// Cluster is a single-broker kfake cluster bound to 127.0.0.1.
type Cluster struct {
	// Addr is "127.0.0.1:PORT"; it stays the same across Restart.
	Addr string

	t    testing.TB
	port int
	opts []kfake.Opt

	mu sync.Mutex
	c  *kfake.Cluster
}

// StartCluster starts a one-broker cluster on a free port with opts added (for
// example kfake.SeedTopics(1, "t"), kfake.AllowAutoTopicCreation()) and stops it when
// the test ends. The cluster keeps its state in a temporary directory.
func StartCluster(t testing.TB, opts ...kfake.Opt) *Cluster {
	t.Helper()
	cl := &Cluster{t: t}
	cl.opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(t.TempDir())}, opts...)
	var err error
	for range 5 { // the free port may be taken between probe and bind; try again
		cl.port, err = testport.TCP()
		if err != nil {
			break
		}
		if err = cl.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("kafkatest: start kfake: %v", err)
	}
	cl.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(cl.port))
	t.Cleanup(cl.Stop)
	return cl
}

func (cl *Cluster) start() error {
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.Ports(cl.port)}, cl.opts...)...) // kfake binds 127.0.0.1
	if err != nil {
		return err
	}
	cl.mu.Lock()
	cl.c = c
	cl.mu.Unlock()
	return nil
}

// URL returns the connector URL "kafka://127.0.0.1:PORT".
func (cl *Cluster) URL() string { return "kafka://" + cl.Addr }

// Kfake returns the running kfake cluster (nil while stopped), for fault injection.
func (cl *Cluster) Kfake() *kfake.Cluster {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.c
}

// Stop closes the cluster and its client connections; its state stays on disk.
// Stopping a stopped cluster does nothing.
func (cl *Cluster) Stop() {
	cl.mu.Lock()
	c := cl.c
	cl.c = nil
	cl.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Restart starts a stopped cluster again on the same port with the state it had.
func (cl *Cluster) Restart() {
	cl.t.Helper()
	if err := cl.restart(); err != nil {
		cl.t.Fatalf("kafkatest: %v", err)
	}
}

func (cl *Cluster) restart() error {
	cl.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := cl.start()
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return fmt.Errorf("restart kfake on %s: %w", cl.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kcat returns the path of the kcat client. When it is missing the test fails under
// CI=true and is skipped otherwise, saying how to install it.
func Kcat(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"kcat", "kafkacat"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "kcat not found in PATH: install it (Debian: apt-get install kcat) to run the cross-check with an independent Kafka client"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
