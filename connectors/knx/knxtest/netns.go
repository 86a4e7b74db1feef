package knxtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// netnsEnv is set in the test process that runs inside the namespace.
const netnsEnv = "AIMDB_KNX_NETNS"

// netnsSetup routes multicast over loopback, then runs the test binary ($0, $@).
const netnsSetup = `ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo src 127.0.0.1 && exec "$0" "$@"`

// netnsProblem says why InNetns could not run the tests in a namespace, or "".
var netnsProblem string

// InNetns re-runs the current test binary inside a new network namespace, for a
// TestMain: when ran is true the tests ran there and code is their exit code. It
// returns ran=false inside the namespace, and when knxd, knxtool, unshare or ip is
// missing or namespaces cannot be made (Require then says why).
func InNetns() (code int, ran bool) {
	if os.Getenv(netnsEnv) != "" {
		return 0, false
	}
	for _, bin := range []string{"knxd", "knxtool", "unshare", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			netnsProblem = fmt.Sprintf("%s is not installed (Debian: apt-get install knxd knxd-tools util-linux iproute2)", bin)
			return 0, false
		}
	}
	if out, err := exec.Command("unshare", "-n", "true").CombinedOutput(); err != nil {
		netnsProblem = fmt.Sprintf("cannot create a network namespace (unshare -n: %v: %s); run as root", err, strings.TrimSpace(string(out)))
		return 0, false
	}
	cmd := exec.Command("unshare", append([]string{"-n", "sh", "-c", netnsSetup, os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &exit):
		return exit.ExitCode(), true
	}
	fmt.Fprintf(os.Stderr, "knxtest: running the tests in a network namespace failed: %v\n", err)
	return 1, true
}

// Require skips the test (or fails it when CI=true) unless it runs inside the
// namespace InNetns made.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(netnsEnv) != "" {
		return
	}
	problem := netnsProblem
	if problem == "" {
		problem = "not inside a private network namespace (call knxtest.InNetns from TestMain)"
	}
	msg := "knxd needs a private network namespace: " + problem
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// FreeUDPPort returns a UDP port that is free on every IPv4 address right now.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// UDPPortBound reports whether something holds the UDP port.
func UDPPortBound(port int) bool {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero, Port: port})
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	c.Close()
	return false
}
