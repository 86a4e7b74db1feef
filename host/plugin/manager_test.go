package plugin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aimdb-dev/aimdb-go/internal/pluginwire"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

func TestOpenMapsSchemesAndSkipsNonPlugins(t *testing.T) {
	dir := pluginDir(t, "loopback")
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# plugins\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("plain text, executable by mistake"), 0o755)
	cfg, logs := testConfig(t)
	m, err := Open(context.Background(), dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	if got := strings.Join(m.Schemes(), ","); got != "echo,loopback" {
		t.Fatalf("schemes = %s, want echo,loopback", got)
	}
	p, ok := m.Lookup("loopback")
	if !ok {
		t.Fatal("loopback not found")
	}
	info := p.Info()
	k, _ := info.Kind("loopback")
	if info.ProtocolVersion != pluginwire.ProtocolVersion || info.SDKVersion != sdk.Version || k.Version != "0.0.1" || len(k.Options) == 0 || info.Limits.MaxBatchMessages == 0 {
		t.Fatalf("unexpected info %+v", info)
	}
	for _, f := range []string{"README.md", "notes.txt"} {
		if !strings.Contains(logs.String(), f) {
			t.Errorf("no warning names skipped file %s; log:\n%s", f, logs.String())
		}
	}
}

func TestStartErrorsNameBinaryAndCause(t *testing.T) {
	cases := []struct{ name, want string }{
		{"badcookie", "wrong magic cookie"},
		{"badversion", "protocol version mismatch"},
		{"stdout", `wrote "hello from a careless plugin" to stdout`},
		{"crash", "exited during start-up: crash: cannot read my settings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, _ := testConfig(t)
			path := filepath.Join(binDir, c.name)
			p, err := Start(context.Background(), path, cfg)
			if err == nil {
				p.Close(context.Background())
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not name %s and %q", err, path, c.want)
			}
		})
	}
}

func TestOpenRefusesTwoPluginsForOneScheme(t *testing.T) {
	dir := pluginDir(t, "a=loopback", "b=loopback")
	cfg, _ := testConfig(t)
	_, err := Open(context.Background(), dir, cfg)
	if err == nil || !strings.Contains(err.Error(), `scheme "echo" is served by two plugins`) {
		t.Fatalf("err = %v", err)
	}
}

func TestListDescribesGoodAndNamesBad(t *testing.T) {
	dir := pluginDir(t, "loopback", "crash")
	cfg, _ := testConfig(t)
	infos, _, err := List(context.Background(), dir, cfg)
	if len(infos) != 1 || infos[0].Name != "loopback" {
		t.Fatalf("infos = %+v", infos)
	}
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "crash")) {
		t.Fatalf("err = %v", err)
	}
}

func TestValidateUsesPluginValidator(t *testing.T) {
	p := startLoopback(t)
	err := p.Validate(context.Background(), "loopback", "", sdk.Config{"bogus": "1"}, nil)
	if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), `unknown option "bogus"`) {
		t.Fatalf("err = %v", err)
	}
	if err := p.Validate(context.Background(), "loopback", "", sdk.Config{"inject": "sync"}, nil); err != nil {
		t.Fatal(err)
	}
}
