package client

import (
	"slices"
	"testing"
)

// TestBaseEnv keeps the harmless variables and drops everything else, secrets and
// go-plugin settings of the host's own environment included.
func TestBaseEnv(t *testing.T) {
	got := baseEnv([]string{
		"PATH=p", "HOME=h", "LANG=C.UTF-8", "LC_TIME=C", "TZ=UTC", "SSL_CERT_FILE=ca.pem",
		"MQTT_PASS=secret", "AWS_SECRET_ACCESS_KEY=x", "PLUGIN_UNIX_SOCKET_DIR=elsewhere", "LCX=1", "broken",
	})
	want := []string{"PATH=p", "HOME=h", "LANG=C.UTF-8", "LC_TIME=C", "TZ=UTC", "SSL_CERT_FILE=ca.pem"}
	if !slices.Equal(got, want) {
		t.Errorf("baseEnv = %q, want %q", got, want)
	}
	t.Setenv("AIMDB_T_NAMED", "v")
	if got := LookupEnv([]string{"AIMDB_T_NAMED", "AIMDB_T_NOT_SET"}); !slices.Equal(got, []string{"AIMDB_T_NAMED=v"}) {
		t.Errorf("LookupEnv = %q", got)
	}
}
