package ops

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func TestCheckBind(t *testing.T) {
	for _, c := range []struct {
		addr  string
		token bool
		want  string // "" for allowed
	}{
		{"127.0.0.1:9180", false, ""},
		{"127.0.0.2:0", false, ""},
		{"[::1]:9180", false, ""},
		{"localhost:9180", false, ""},
		{"0.0.0.0:9180", false, "is not a loopback address"},
		{":9180", false, "is not a loopback address"},
		{"[::]:9180", false, "is not a loopback address"},
		{"192.0.2.1:9180", false, "bearer token"},
		{"0.0.0.0:9180", true, ""},
		{"example.org:9180", true, "IP address or localhost"},
		{"9180", false, "want host:port"},
	} {
		err := CheckBind(c.addr, c.token)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s (token %v): %v", c.addr, c.token, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s (token %v): %v, want %q", c.addr, c.token, err, c.want)
		}
	}
}

// TestTokenRequired: with a token, every endpoint answers 401 without it (with a
// challenge a browser understands), and serves with it as a bearer token or as the
// basic-auth password.
func TestTokenRequired(t *testing.T) {
	const token = "s3cret-token"
	h := startHub(t, `record "a" { writable = true }`, Options{Token: token})
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("any:"+token))
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/", "/ws?v=3.0"} {
		code, _ := get(t, h.base+path)
		if code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", path, code)
		}
		if code, _ := get(t, h.base+path, "Authorization", "Bearer wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", path, code)
		}
	}
	resp, err := http.Get(h.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("401 without a challenge: %q", resp.Header.Get("WWW-Authenticate"))
	}
	for _, auth := range []string{"Bearer " + token, "bearer " + token, basic} {
		if code, _ := get(t, h.base+"/healthz", "Authorization", auth); code != http.StatusOK {
			t.Errorf("/healthz with %q: %d, want 200", auth, code)
		}
	}
	if code, _ := get(t, h.base+"/metrics", "Authorization", "Bearer "+token); code != http.StatusOK {
		t.Errorf("/metrics with the token: %d", code)
	}
}

// TestPprofOnlyWhenAsked: /debug/pprof/ is served only with Options.Pprof, and
// behind the token like every endpoint.
func TestPprofOnlyWhenAsked(t *testing.T) {
	off := startHub(t, `record "a" {}`, Options{})
	if code, _ := get(t, off.base+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof without Pprof: %d, want 404", code)
	}
	on := startHub(t, `record "a" {}`, Options{Pprof: true})
	if code, body := get(t, on.base+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Errorf("pprof with Pprof: %d", code)
	}
	const token = "pprof-token"
	locked := startHub(t, `record "a" {}`, Options{Pprof: true, Token: token})
	if code, _ := get(t, locked.base+"/debug/pprof/"); code != http.StatusUnauthorized {
		t.Errorf("pprof without the token: %d, want 401", code)
	}
	if code, _ := get(t, locked.base+"/debug/pprof/", "Authorization", "Bearer "+token); code != http.StatusOK {
		t.Errorf("pprof with the token: %d, want 200", code)
	}
}
