// Package testport hands out loopback TCP ports for test peers that listen on a port
// chosen in advance, and again on the same port after a restart.
//
// A port the kernel picks for a listener on port 0 lies in its ephemeral range, the
// range it also takes the local ports of outgoing connections from. Released again
// for the peer to bind, such a port can meanwhile go to another test's listener, and
// while the peer is down a client that keeps dialling it can connect to itself (TCP
// simultaneous open): the peer then fails to bind, or a readiness check or a client
// sees a peer that is not there. The ports handed out here lie below the ephemeral
// range, so neither can happen, and never go out twice in one process.
package testport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// lowest is the lowest port handed out.
const lowest = 10000

var (
	mu   sync.Mutex
	used = map[int]bool{}
)

// Port returns a port from TCP, failing t when none is free.
func Port(t testing.TB) int {
	t.Helper()
	p, err := TCP()
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	return p
}

// Addr returns "127.0.0.1:PORT" with a port from Port.
func Addr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(Port(t)))
}

// TCP returns a port below the ephemeral range that is free on 127.0.0.1 now.
func TCP() (int, error) {
	top := ephemeralStart()
	mu.Lock()
	defer mu.Unlock()
	for range 200 {
		p := lowest + rand.IntN(top-lowest)
		if used[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		used[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("testport: no free port between %d and %d after 200 tries", lowest, top)
}

// ephemeralStart is the first port of the kernel's ephemeral range (Linux's
// default, 32768, where it cannot be read).
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lowest+1000 {
				return n
			}
		}
	}
	return 32768
}
