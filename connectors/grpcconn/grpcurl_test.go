package grpcconn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn/grpctest"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// grpcurl returns the grpcurl command: bin/tools/grpcurl of the checkout (where
// .ci/run installs it), or one on PATH. Without it the test skips, and fails under CI=true.
func grpcurl(t *testing.T) string {
	t.Helper()
	local := filepath.Join(protoDir(t), "..", "..", "..", "..", "bin", "tools", "grpcurl")
	if fi, err := os.Stat(local); err == nil && !fi.IsDir() {
		return local
	}
	if p, err := exec.LookPath("grpcurl"); err == nil {
		return p
	}
	const why = "grpcurl not found in bin/tools or on PATH (go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4)"
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
	return ""
}

// crossCheck has grpcurl and the connector, each with the descriptors the given
// arguments and options name, call Put with the same JSON and watch the same
// stream: the server must get equal readings, and both must print equal JSON.
func crossCheck(t *testing.T, srv *grpctest.Server, grpcurlArgs []string, options sdk.Config) {
	bin := grpcurl(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := func(more ...string) []string { return append(append([]string{"-plaintext"}, grpcurlArgs...), more...) }

	out, err := exec.CommandContext(ctx, bin, args(srv.Addr, "describe", grpctest.Service+".Put")...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "rpc Put ( .aimdb.test.v1.Reading ) returns ( .aimdb.test.v1.Ack )") {
		t.Fatalf("grpcurl describe: %v\n%s", err, out)
	}

	in := start(t, "grpc://"+srv.Addr, options, links{
		out: []sdk.LinkSpec{to(1, method("Put"))},
		in:  []sdk.Route{from(2, method("Watch"), "request", `{"sensor":"t1"}`)},
	})
	calls := srv.Observe(ctx, "Put")
	if out, err := exec.CommandContext(ctx, bin, args("-d", readingJSON, srv.Addr, method("Put"))...).CombinedOutput(); err != nil {
		t.Fatalf("grpcurl Put: %v\n%s", err, out)
	}
	byGrpcurl := nextCall(t, calls).Reading
	if errs := in.publish(1, readingJSON); errs[0] != nil {
		t.Fatal(errs[0])
	}
	byConnector := nextCall(t, calls).Reading
	if !proto.Equal(byGrpcurl, byConnector) || !proto.Equal(byConnector, wantReading) {
		t.Errorf("from the same JSON, grpcurl sent %v and the connector %v", byGrpcurl, byConnector)
	}

	watch := exec.CommandContext(ctx, bin, args("-d", `{"sensor":"t1"}`, srv.Addr, method("Watch"))...)
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	watch.Stderr = &stderr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		watch.Process.Kill()
		watch.Wait()
	}()
	waitStream(t, srv, "Watch", 2)
	if err := srv.Send(ctx, "Watch", wantReading); err != nil {
		t.Fatal(err)
	}
	var fromGrpcurl, fromConnector map[string]any
	if err := json.NewDecoder(stdout).Decode(&fromGrpcurl); err != nil && err != io.EOF {
		t.Fatalf("grpcurl Watch output: %v (stderr %s)", err, stderr.String())
	}
	if err := json.Unmarshal(in.next(t).Payload, &fromConnector); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromGrpcurl, fromConnector) {
		t.Errorf("the same streamed reading: grpcurl printed %v, the connector made %v", fromGrpcurl, fromConnector)
	}
}

// TestGrpcurlReflection cross-checks the connector with grpcurl against the test
// server, both using server reflection.
func TestGrpcurlReflection(t *testing.T) {
	crossCheck(t, grpctest.Start(t), nil, sdk.Config{})
}

// TestGrpcurlProtoFiles cross-checks the connector with grpcurl against a server
// without reflection, both reading the .proto file.
func TestGrpcurlProtoFiles(t *testing.T) {
	dir := protoDir(t)
	crossCheck(t, grpctest.Start(t, grpctest.WithoutReflection()),
		[]string{"-import-path", dir, "-proto", "telemetry.proto"},
		sdk.Config{"proto_files": "telemetry.proto", "import_paths": dir})
}
