package ops

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/aimdb-dev/aimdb-go/config"
	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
	"github.com/aimdb-dev/aimdb-go/internal/syncbuf"
	"github.com/aimdb-dev/aimdb-go/internal/testplugins/testbuild"
)

// Built once per test binary: the aimdb command and the mqtt and http plugins.
var aimdbBin, pluginDir string

func TestMain(m *testing.M) {
	if addr := os.Getenv(loadgenEnv); addr != "" {
		os.Exit(loadgen(addr)) // the test binary run as TestWSLoad's writer
	}
	code := func() int {
		tmp, err := os.MkdirTemp("", "aimdb-ops-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		pluginDir = filepath.Join(tmp, "plugins")
		aimdbBin = filepath.Join(tmp, "aimdb")
		if err := testbuild.Packages(pluginDir, "./plugins/mqtt", "./plugins/http"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := testbuild.Packages(tmp, "./cmd/aimdb"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// testLogger returns a logger into a buffer that the test prints if it fails.
func testLogger(t *testing.T) (hclog.Logger, *syncbuf.Buffer) {
	buf := &syncbuf.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("host log:\n%s", buf.String())
		}
	})
	return hclog.New(&hclog.LoggerOptions{Name: "aimdb", Level: hclog.Debug, Output: buf}), buf
}

// hub is an in-process hub from a configuration, running, with its listener.
type hub struct {
	db   *host.DB
	srv  *Server
	base string // http://127.0.0.1:port
	log  *syncbuf.Buffer
}

// startHub builds and runs the configuration src with the test plugins, the status
// record, extra options and a listener on a free loopback port.
func startHub(t *testing.T, src string, opts Options, extra ...host.Option) *hub {
	t.Helper()
	cfg, diags := config.Parse([]byte(src), "test.hcl")
	if diags.HasErrors() {
		t.Fatal(config.Format(diags))
	}
	log, buf := testLogger(t)
	b := host.NewBuilder(host.WithLogger(log))
	if len(cfg.Instances()) > 0 {
		b.Apply(connect.WithPlugins(pluginDir))
	}
	cfg.Apply(b)
	b.Apply(extra...)
	b.Apply(WithStatus())
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	opts.Logger = log.Named("http")
	srv, err := Listen(db, opts)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- db.Run(ctx) }()
	<-db.Started()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
		srv.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &hub{db: db, srv: srv, base: "http://" + srv.Addr(), log: buf}
}

// get fetches path and returns the status and body.
func get(t *testing.T, url string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, body
}

// metrics scrapes /metrics and parses it with the Prometheus text parser.
type metrics map[string]*dto.MetricFamily

func scrape(t *testing.T, base string) metrics {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// value returns the value of the series of name whose labels include want: a
// counter's or gauge's value, a histogram's sample count.
func (m metrics) value(name string, want map[string]string) (float64, bool) {
	f := m[name]
	if f == nil {
		return 0, false
	}
next:
	for _, s := range f.Metric {
		have := map[string]string{}
		for _, l := range s.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case s.Counter != nil:
			return s.Counter.GetValue(), true
		case s.Gauge != nil:
			return s.Gauge.GetValue(), true
		case s.Histogram != nil:
			return float64(s.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// eventually polls cond every 50 ms until it holds or d passed.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
