package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/host/plugin"
	"github.com/aimdb-dev/aimdb-go/internal/testport"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// pluginEnv makes the test binary run main() instead of the tests, so the tests can
// start it as the real plugin process.
const pluginEnv = "AIMDB_HTTP_PLUGIN_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(pluginEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestThroughPluginProcess drives the HTTP connector through the plugin boundary:
// a webhook out, a POST in acknowledged by the host, a rejected value, GET latest,
// health, and config validation in the plugin process.
func TestThroughPluginProcess(t *testing.T) {
	t.Setenv("HTTP_PLUGIN_TEST_TOKEN", "e2e-token")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var mu sync.Mutex
	var hooks []string
	webhook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(body))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer webhook.Close()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The plugin gets the variables its instances name, as under the host, and the one
	// that makes this test binary serve as the plugin.
	proc, err := plugin.Start(ctx, exe, plugin.Config{Env: []string{pluginEnv + "=1"},
		KindEnv: map[string][]string{"http": {"HTTP_PLUGIN_TEST_TOKEN"}}})
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		_ = proc.Close(cctx)
	}()
	kind, ok := proc.Info().Kind("http")
	if !ok || len(kind.Options) == 0 {
		t.Fatalf("plugin does not describe scheme http: %+v", proc.Info())
	}

	err = proc.Validate(ctx, "http", webhook.URL, sdk.Config{"method": "PATCH", "token_env": "HTTP_PLUGIN_TEST_UNSET"}, nil)
	if sdk.KindOf(err) != sdk.KindInvalidConfig || !strings.Contains(err.Error(), `"method"`) || !strings.Contains(err.Error(), "HTTP_PLUGIN_TEST_UNSET") {
		t.Fatalf("Validate = %v, want invalid config naming method and the variable", err)
	}

	delivered := make(chan string, 4)
	listen := testport.Addr(t)
	inst, err := proc.Build(ctx, plugin.InstanceSpec{
		Name: "hooks", Scheme: "http", URL: webhook.URL + "/v1",
		Options: sdk.Config{"listen": listen, "token_env": "HTTP_PLUGIN_TEST_TOKEN"},
		Links: []plugin.Link{
			{ID: 1, Direction: sdk.Outbound, Resource: "alerts/high", Record: "alerts", Options: sdk.Config{"allow_get": "true"}},
			{ID: 2, Direction: sdk.Inbound, Resource: "cmd/+", Record: "cmd", Options: sdk.Config{"allow_get": "true"}},
		},
		Deliver: func(m plugin.Inbound, _ func(error)) (error, bool) {
			if !json.Valid(m.Payload) {
				return sdk.Errorf(sdk.KindRejected, "link %d: payload is not JSON", m.Route), true
			}
			delivered <- string(m.Payload)
			return nil, true
		},
		Latest: func(_ context.Context, resource string) ([]byte, error) {
			switch resource {
			case "cmd/+":
				return []byte(`{"on":true}`), nil
			case "alerts/high":
				return []byte(`{"level":3}`), nil
			}
			return nil, sdk.Errorf(sdk.KindNoRoute, "no link for %q", resource)
		},
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}

	// A link_to with allow_get is readable before it sent anything: the plugin
	// server hands the connector its outbound links at build.
	if resp, err := http.Get("http://" + listen + "/alerts/high"); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != `{"level":3}` {
			t.Fatalf("GET /alerts/high before any publish = %d %q, want 200 with the host's value", resp.StatusCode, b)
		}
	}

	// Outbound.
	if f, err := inst.Publish(ctx, 1, 0, [][]byte{[]byte(`{"level":3}`)}); err != nil || len(f) != 0 {
		t.Fatalf("publish failed: %v %v", err, f)
	}
	mu.Lock()
	got := strings.Join(hooks, "\n")
	mu.Unlock()
	if got != `POST /v1/alerts/high Bearer e2e-token {"level":3}` {
		t.Fatalf("webhook got %q", got)
	}

	// Inbound.
	post := func(body string) (int, string) {
		resp, err := http.Post("http://"+listen+"/cmd/light", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(`{"on":false}`); code != http.StatusNoContent {
		t.Fatalf("POST = %d %q, want 204", code, body)
	}
	if v := <-delivered; v != `{"on":false}` {
		t.Fatalf("host got %q", v)
	}
	if code, body := post(`{oops`); code != http.StatusBadRequest || !strings.Contains(body, "payload is not JSON") {
		t.Fatalf("bad JSON = %d %q, want 400 with the host's reason", code, body)
	}
	// The first GETs come 6 s after the build: Latest questions ride on the data
	// stream, which lives as long as the plugin, so nothing expires after go-plugin's
	// 5 s window for unclaimed broker connections (a lazily dialled channel did).
	time.Sleep(6 * time.Second)
	for path, want := range map[string]string{"/cmd/light": `{"on":true}`, "/alerts/high": `{"level":3}`} {
		resp, err := http.Get("http://" + listen + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != want {
			t.Fatalf("GET %s = %d %q, want the host's latest value %s", path, resp.StatusCode, b, want)
		}
	}

	if err := inst.Health(ctx); err != nil {
		t.Fatalf("Health = %v", err)
	}
	if err := inst.Close(ctx); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if _, err := http.Post("http://"+listen+"/cmd/light", "application/json", strings.NewReader("1")); err == nil {
		t.Fatal("the listener still accepts after the instance closed")
	}
}
