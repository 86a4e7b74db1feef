package plugin

import (
	"slices"
	"testing"
)

func TestPluginProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	if env := (Config{}).options(nil).Env; !slices.Contains(env, "GOMAXPROCS=1") {
		t.Errorf("default plugin env %q lacks GOMAXPROCS=1", env)
	}
	if env := (Config{Procs: 3}).options(nil).Env; !slices.Contains(env, "GOMAXPROCS=3") {
		t.Errorf("Procs 3: plugin env %q lacks GOMAXPROCS=3", env)
	}
	t.Setenv("GOMAXPROCS", "2")
	for _, e := range (Config{}).options(nil).Env {
		if len(e) > 11 && e[:11] == "GOMAXPROCS=" {
			t.Errorf("host sets GOMAXPROCS, yet the plugin env overrides it with %q", e)
		}
	}
}
