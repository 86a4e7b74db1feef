package grpcconn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn/grpctest"
	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn/grpctest/testpb"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// reading is the JSON value the tests publish and the Reading it stands for.
const readingJSON = `{"sensor":"t1","value":21.5,"seq":"7","unit":"UNIT_CELSIUS"}`

var wantReading = &testpb.Reading{Sensor: "t1", Value: 21.5, Seq: 7, Unit: testpb.Unit_UNIT_CELSIUS}

// roundTrip publishes a JSON value through a unary call and receives a streamed
// message as JSON, against srv, with the descriptors that options name.
func roundTrip(t *testing.T, srv *grpctest.Server, options sdk.Config) {
	t.Setenv("GRPC_TEST_TOKEN", "s3cret-token")
	options["metadata"] = "x-tenant: plant-b; x-region: eu"
	options["token_env"] = "GRPC_TEST_TOKEN"
	in := start(t, "grpc://"+srv.Addr, options, links{
		out: []sdk.LinkSpec{to(1, method("Put"))},
		in:  []sdk.Route{from(2, method("Watch"), "request", `{"sensor":"t1"}`)},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := srv.Observe(ctx, "Put")
	if errs := in.publish(1, readingJSON); errs[0] != nil {
		t.Fatalf("publish: %v", errs[0])
	}
	c := nextCall(t, calls)
	if !proto.Equal(c.Reading, wantReading) {
		t.Errorf("server got %v, want %v", c.Reading, wantReading)
	}
	for k, want := range map[string]string{"x-tenant": "plant-b", "x-region": "eu", "authorization": "Bearer s3cret-token"} {
		if got := c.Metadata.Get(k); len(got) != 1 || got[0] != want {
			t.Errorf("metadata %s = %q, want %q", k, got, want)
		}
	}

	waitStream(t, srv, "Watch", 1)
	if got := srv.WatchRequest("Watch").GetSensor(); got != "t1" {
		t.Errorf("stream opened with sensor %q, want t1 (option request)", got)
	}
	if err := srv.Send(ctx, "Watch", wantReading); err != nil {
		t.Fatal(err)
	}
	m := in.next(t)
	if m.RouteID != 2 {
		t.Errorf("route %d, want 2", m.RouteID)
	}
	var got, want map[string]any
	if err := json.Unmarshal(m.Payload, &got); err != nil {
		t.Fatalf("inbound value %q: %v", m.Payload, err)
	}
	json.Unmarshal([]byte(readingJSON), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inbound value %s, want %s", m.Payload, readingJSON)
	}
}

// TestReflectionRoundTrip: with descriptors from server reflection, a JSON value
// becomes a Put call (with the configured metadata and token) and a streamed
// Reading becomes a JSON value.
func TestReflectionRoundTrip(t *testing.T) {
	roundTrip(t, grpctest.Start(t), sdk.Config{})
}

// TestProtoFilesRoundTrip: the same against a server without reflection, with the
// descriptors from the .proto file; the reflection mode names what is missing.
func TestProtoFilesRoundTrip(t *testing.T) {
	srv := grpctest.Start(t, grpctest.WithoutReflection())
	roundTrip(t, srv, sdk.Config{"proto_files": "telemetry.proto", "import_paths": protoDir(t)})

	in := start(t, "grpc://"+srv.Addr, sdk.Config{}, links{out: []sdk.LinkSpec{to(1, method("Put"))}})
	err := in.publish(1, readingJSON)[0]
	if sdk.KindOf(err) != sdk.KindInvalidDestination || !strings.Contains(err.Error(), "proto_files") {
		t.Errorf("publish without reflection nor proto_files: %v; want invalid destination pointing to proto_files", err)
	}
}

// TestRawPayloadField: with payload_field, values travel as they are in a bytes field.
func TestRawPayloadField(t *testing.T) {
	srv := grpctest.Start(t)
	in := start(t, "grpc://"+srv.Addr, sdk.Config{}, links{
		out: []sdk.LinkSpec{to(1, method("Put"), "payload_field", "data"), to(3, method("PutB"), "payload_field", "sensor")},
		in:  []sdk.Route{from(2, method("Watch"), "payload_field", "data")},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls, callsB := srv.Observe(ctx, "Put"), srv.Observe(ctx, "PutB")
	raw := "\x00\xffnot json"
	if errs := in.publish(1, raw); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got := string(nextCall(t, calls).Reading.GetData()); got != raw {
		t.Errorf("data %q, want %q", got, raw)
	}
	if errs := in.publish(3, "room-1"); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got := nextCall(t, callsB).Reading.GetSensor(); got != "room-1" {
		t.Errorf("sensor %q, want room-1", got)
	}
	if err := in.publish(3, "\xff")[0]; sdk.KindOf(err) != sdk.KindRejected {
		t.Errorf("invalid UTF-8 into a string field: %v, want rejected", err)
	}
	waitStream(t, srv, "Watch", 1)
	srv.Send(ctx, "Watch", &testpb.Reading{Sensor: "x", Data: []byte(raw)})
	if got := string(in.next(t).Payload); got != raw {
		t.Errorf("inbound %q, want %q", got, raw)
	}
}

// TestStatusCodeKinds: each status code the server answers with becomes its error
// kind, retryable or permanent as docs/grpc.md says.
func TestStatusCodeKinds(t *testing.T) {
	srv := grpctest.Start(t)
	in := start(t, "grpc://"+srv.Addr, sdk.Config{}, links{out: []sdk.LinkSpec{to(1, method("Fail"))}})
	cases := []struct {
		code      codes.Code
		kind      sdk.ErrorKind
		retryable bool
	}{
		{codes.Unavailable, sdk.KindConnectionFailed, true},
		{codes.DeadlineExceeded, sdk.KindTimeout, true},
		{codes.ResourceExhausted, sdk.KindBufferFull, true},
		{codes.Aborted, sdk.KindUnknown, true},
		{codes.InvalidArgument, sdk.KindRejected, false},
		{codes.FailedPrecondition, sdk.KindRejected, false},
		{codes.Internal, sdk.KindRejected, false},
		{codes.NotFound, sdk.KindInvalidDestination, false},
		{codes.Unimplemented, sdk.KindInvalidDestination, false},
		{codes.PermissionDenied, sdk.KindInvalidConfig, false},
		{codes.Unauthenticated, sdk.KindInvalidConfig, false},
	}
	for _, c := range cases {
		err := in.publish(1, fmt.Sprintf(`{"code":%d}`, c.code))[0]
		if sdk.KindOf(err) != c.kind || sdk.Retryable(err) != c.retryable || !strings.Contains(err.Error(), c.code.String()) {
			t.Errorf("%s: got %v (kind %s, retryable %v), want kind %s, retryable %v", c.code, err, sdk.KindOf(err), sdk.Retryable(err), c.kind, c.retryable)
		}
	}
}

// TestBadValuesAndMethods: values that are not the request in JSON are rejected,
// unknown and streaming methods are invalid destinations, oversized requests are
// message too large; none of them is retryable.
func TestBadValuesAndMethods(t *testing.T) {
	srv := grpctest.Start(t)
	in := start(t, "grpc://"+srv.Addr, sdk.Config{"max_message_size": "64"}, links{out: []sdk.LinkSpec{
		to(1, method("Put")), to(2, method("Nope")), to(3, method("Watch")), to(4, "aimdb.test.v1.Missing/Put"),
	}})
	cases := []struct {
		link    uint32
		payload string
		kind    sdk.ErrorKind
		text    string
	}{
		{1, `{"sensor":1}`, sdk.KindRejected, "not a aimdb.test.v1.Reading in JSON"},
		{1, `{"nope":1}`, sdk.KindRejected, "nope"},
		{1, `{"sensor":"` + strings.Repeat("x", 60) + `"}`, sdk.KindMessageTooLarge, "max_message_size"},
		{1, strings.Repeat(" ", 49), sdk.KindMessageTooLarge, "max_message_size"},
		{2, `{}`, sdk.KindInvalidDestination, "has no method Nope"},
		{3, `{}`, sdk.KindInvalidDestination, "server streaming; link_to calls unary or client-streaming methods"},
		{4, `{}`, sdk.KindInvalidDestination, "aimdb.test.v1.Missing"},
	}
	for _, c := range cases {
		err := in.publish(c.link, c.payload)[0]
		if sdk.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.text) {
			t.Errorf("link %d, %.30q: got %v, want kind %s with %q", c.link, c.payload, err, c.kind, c.text)
		}
	}
	if err := in.publish(1, `{"sensor":"ok"}`)[0]; err != nil {
		t.Errorf("a good value after the bad ones: %v", err)
	}
}

// TestServerSizeLimit: a request the server refuses for its size (grpc-go's 4 MiB
// default, below the connector's max_message_size here) is message too large.
func TestServerSizeLimit(t *testing.T) {
	srv := grpctest.Start(t)
	in := start(t, "grpc://"+srv.Addr, sdk.Config{"max_message_size": "8388608"}, links{
		out: []sdk.LinkSpec{to(1, method("Put"), "payload_field", "data")},
	})
	err := in.publish(1, strings.Repeat("x", 5<<20))[0]
	if sdk.KindOf(err) != sdk.KindMessageTooLarge || sdk.Retryable(err) {
		t.Errorf("5 MiB to a server taking 4 MiB: %v (kind %s); want message too large", err, sdk.KindOf(err))
	}
}

// TestClientStreaming: a link_to of a client-streaming method streams each batch of
// values as one call, in order; the server's answer confirms them all, a value that
// is not a request fails alone, and a failed call fails every value it carried.
func TestClientStreaming(t *testing.T) {
	srv := grpctest.Start(t)
	in := start(t, "grpc://"+srv.Addr, sdk.Config{}, links{out: []sdk.LinkSpec{to(1, method("Upload"))}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := srv.Observe(ctx, "Upload")
	errs := in.publish(1, `{"seq":"1"}`, `{"seq":"x"}`, `{"seq":"2"}`, `{"seq":"3"}`)
	if errs[0] != nil || errs[2] != nil || errs[3] != nil || sdk.KindOf(errs[1]) != sdk.KindRejected {
		t.Fatalf("outcomes %v; want the second rejected, the others published", errs)
	}
	for _, want := range []uint64{1, 2, 3} {
		if got := nextCall(t, calls).Reading.GetSeq(); got != want {
			t.Errorf("server got seq %d, want %d", got, want)
		}
	}
	srv.FailWith("Upload", codes.Unavailable)
	for i, err := range in.publish(1, `{"seq":"4"}`, `{"seq":"5"}`) {
		if sdk.KindOf(err) != sdk.KindConnectionFailed {
			t.Errorf("value %d of a failed call: %v; want connection failed", i, err)
		}
	}
}

// TestDeadline: a call that gets no answer within timeout fails as a timeout, which
// the host retries.
func TestDeadline(t *testing.T) {
	srv := grpctest.Start(t)
	srv.Delay("Put", 5*time.Second)
	in := start(t, "grpc://"+srv.Addr, sdk.Config{"timeout": "200ms"}, links{out: []sdk.LinkSpec{to(1, method("Put"))}})
	begin := time.Now()
	err := in.publish(1, `{}`)[0]
	if sdk.KindOf(err) != sdk.KindTimeout || !sdk.Retryable(err) {
		t.Errorf("a call without an answer: %v (kind %s); want timeout, retryable", err, sdk.KindOf(err))
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("the call returned after %v; want about the 200ms timeout", d)
	}
}
