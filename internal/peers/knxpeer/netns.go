package knxpeer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netnsEnv is set in the test process that runs inside the namespace.
const netnsEnv = "AIMDB_KNXPEER_NETNS"

// netnsSetup routes multicast over loopback, then runs the test binary ($0, $@).
const netnsSetup = `ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo src 127.0.0.1 && exec "$0" "$@"`

// InNetns re-runs the current test binary inside a new network namespace, for a
// TestMain: it returns ran=false (with the reason) when knxd, knxtool, unshare or ip
// is missing or namespaces cannot be made, and the exit code otherwise. Inside the
// namespace it returns ran=false and an empty reason.
func InNetns() (code int, ran bool, problem string) {
	if os.Getenv(netnsEnv) != "" {
		return 0, false, ""
	}
	for _, bin := range []string{"knxd", "knxtool", "unshare", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			return 0, false, fmt.Sprintf("%s is not installed (Debian: apt-get install knxd knxd-tools util-linux iproute2)", bin)
		}
	}
	if out, err := exec.Command("unshare", "-n", "true").CombinedOutput(); err != nil {
		return 0, false, fmt.Sprintf("cannot create a network namespace (unshare -n: %v: %s); run as root", err, strings.TrimSpace(string(out)))
	}
	cmd := exec.Command("unshare", append([]string{"-n", "sh", "-c", netnsSetup, os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, true, ""
	case errors.As(err, &exit):
		return exit.ExitCode(), true, ""
	}
	fmt.Fprintf(os.Stderr, "knxpeer: running the tests in a network namespace failed: %v\n", err)
	return 1, true, ""
}

// Require skips the test (or fails it when CI=true) unless it runs inside the
// namespace InNetns made; problem is what InNetns said.
func Require(t testing.TB, problem string) {
	t.Helper()
	if os.Getenv(netnsEnv) != "" {
		return
	}
	if problem == "" {
		problem = "not inside a private network namespace"
	}
	msg := "knxd needs a private network namespace: " + problem
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
