package plugin

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// harmlessEnv are the host variables a plugin may see besides those its instances
// name: the contract of client.passedEnv, written out again on purpose.
var harmlessEnv = []string{
	"PATH", "HOME", "TMPDIR", "TZ", "LANG", "SSL_CERT_FILE", "SSL_CERT_DIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG", "GOTRACEBACK", "GORACE", "GOCOVERDIR",
}

// environ reads a process's environment from /proc, as `ps e` shows it.
func environ(t *testing.T, pid int) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatalf("read the plugin's environment: %v", err)
	}
	env := map[string]string{}
	for _, kv := range bytes.Split(raw, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			env[k] = v
		}
	}
	return env
}

// checkEnv fails unless env holds exactly the harmless variables, go-plugin's and the
// host's own for the plugin, and the named ones; and none of the secrets in absent.
func checkEnv(t *testing.T, env map[string]string, named map[string]string, absent ...string) {
	t.Helper()
	for k, v := range env {
		switch {
		case named[k] != "":
			if v != named[k] {
				t.Errorf("%s = %q, want %q", k, v, named[k])
			}
		case slices.Contains(harmlessEnv, k), strings.HasPrefix(k, "LC_"), strings.HasPrefix(k, "PLUGIN_"),
			k == "AIMDB_PLUGIN_MAGIC_COOKIE", k == "AIMDB_PLUGIN_LOG_LEVEL":
		default:
			t.Errorf("the plugin got %s from the host", k)
		}
		for _, secret := range absent {
			if strings.Contains(v, secret) {
				t.Errorf("the plugin's %s holds %q", k, secret)
			}
		}
	}
	for k := range named {
		if _, ok := env[k]; !ok {
			t.Errorf("the plugin lacks %s, which its instances name", k)
		}
	}
	if env["LC_TIME"] != "C" || env["PATH"] != os.Getenv("PATH") {
		t.Errorf("the plugin lacks the locale or PATH: %v", env)
	}
}

// TestPluginEnvironment: a plugin process gets only harmless host variables and those
// the instances of its kinds name, never the host's other secrets. A plugin whose file
// is named after another kind than it serves is started again with the variables of
// the kinds it does serve.
func TestPluginEnvironment(t *testing.T) {
	t.Setenv("AIMDB_T_LOOPBACK_SECRET", "lb-secret-value")
	t.Setenv("AIMDB_T_ECHO_SECRET", "echo-secret-value")
	t.Setenv("AIMDB_T_UNRELATED_SECRET", "unrelated-secret-value")
	t.Setenv("LC_TIME", "C")
	cfg, _ := testConfig(t)
	cfg.KindEnv = map[string][]string{"loopback": {"AIMDB_T_LOOPBACK_SECRET"}, "mqtt": {"AIMDB_T_UNRELATED_SECRET"}}
	ctx := context.Background()

	// loopback serves kinds loopback and echo; its file is named after the first.
	p, err := Start(ctx, filepath.Join(pluginDir(t, "loopback"), "loopback"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	checkEnv(t, environ(t, p.Pid()), map[string]string{"AIMDB_T_LOOPBACK_SECRET": "lb-secret-value"},
		"echo-secret-value", "unrelated-secret-value")

	cfg.KindEnv = map[string][]string{"echo": {"AIMDB_T_ECHO_SECRET"}, "mqtt": {"AIMDB_T_UNRELATED_SECRET"}}
	p2, err := Start(ctx, filepath.Join(pluginDir(t, "mqtt=loopback"), "mqtt"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close(ctx)
	checkEnv(t, environ(t, p2.Pid()), map[string]string{"AIMDB_T_ECHO_SECRET": "echo-secret-value"},
		"lb-secret-value", "unrelated-secret-value")
}
