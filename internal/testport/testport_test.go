package testport

import (
	"net"
	"strconv"
	"testing"
)

// TestTCPBelowEphemeralRangeAndNeverTwice: every port lies below the kernel's
// ephemeral range, is free when handed out, and goes out once.
func TestTCPBelowEphemeralRangeAndNeverTwice(t *testing.T) {
	top := ephemeralStart()
	seen := map[int]bool{}
	for range 50 {
		p, err := TCP()
		if err != nil {
			t.Fatal(err)
		}
		if p < lowest || p >= top {
			t.Errorf("port %d outside [%d, %d)", p, lowest, top)
		}
		if seen[p] {
			t.Errorf("port %d handed out twice", p)
		}
		seen[p] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d is not free: %v", p, err)
			continue
		}
		l.Close()
	}
}
