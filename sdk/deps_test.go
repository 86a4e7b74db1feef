package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAuthorAPIPullsInNoWire keeps the author API plain Go: importing sdk (or running
// a connector with sdk/run) must not pull in gRPC, go-plugin or generated protobuf;
// those belong to sdk/serve.
func TestAuthorAPIPullsInNoWire(t *testing.T) {
	for _, pkg := range []string{".", "./run"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s listed only %q", pkg, deps)
		}
		for _, d := range deps {
			for _, banned := range []string{"google.golang.org/grpc", "google.golang.org/protobuf", "github.com/hashicorp/go-plugin", "/proto/", "/internal/pluginwire"} {
				if strings.Contains(d, banned) {
					t.Errorf("%s depends on %s", pkg, d)
				}
			}
		}
	}
}
