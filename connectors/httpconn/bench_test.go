package httpconn

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// BenchmarkPublish measures one webhook delivery to a loopback server.
func BenchmarkPublish(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	inst, err := run.Start(context.Background(), NewBuilder(), run.Config{Name: "bench", URL: sdk.MustParseURL(srv.URL + "/v1")})
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close(context.Background())
	payload := []byte(`{"level":3,"msg":"temperature high"}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := inst.Publish(ctx, "alerts/high", nil, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInboundPost measures one POST through the listener to an acknowledging sink.
func BenchmarkInboundPost(b *testing.B) {
	inst, err := run.Start(context.Background(), NewBuilder(), run.Config{
		Name: "bench", Options: sdk.Config{optListen: "127.0.0.1:0"},
		Routes: []sdk.Route{{ID: 1, Resource: "cmd/light"}},
		Sink:   run.SinkFunc(func(_ run.Message, ack func(error)) { ack(nil) }),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close(context.Background())
	url := "http://" + inst.Connector().(*connector).ListenAddr().String() + "/cmd/light"
	payload := []byte(`{"on":true}`)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Post(url, "application/json", bytes.NewReader(payload))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
