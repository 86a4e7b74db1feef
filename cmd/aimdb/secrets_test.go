package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/aimdb-dev/aimdb-go/connectors/kafka/kafkatest"
	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/host/control"
)

// Each secret kind a configuration can hold, with symbols that URL encoding changes.
const (
	mqttPass    = "Mq+Pa/ss=7Hd3kQ"     // MQTT password from password_env
	mqttWrong   = "Mq-Wr0ng+9Zx2Lp"     // MQTT password option from env(), refused by the broker
	httpToken   = "Tk+Be/arer-4Qw8Zr"   // HTTP bearer token from token_env
	httpPass    = "Ba+sic/Pw-6Yt2Xc"    // HTTP basic-auth password from basic_password_env
	kafkaPass   = "Ka+fka/Sasl-3Vn5Mb"  // Kafka SASL password from sasl_password_env
	unrelated   = "Un+related/Sec-8Jk1" // in the host's environment, named by no option
	httpUser    = "alice"
	brokerUser  = "aimdb"
	kafkaUser   = "aimdb"
	secretsConf = `connector "mqtt" {
  url          = "mqtt://aimdb@%[1]s"
  password_env = "AIMDB_T_MQTT_PASS"
}
connector "plant-b" {
  plugin        = "mqtt"
  url           = "mqtt://aimdb@%[1]s"
  password      = env("AIMDB_T_MQTT_WRONG")
  reconnect_min = "50ms"
  reconnect_max = "200ms"
}
connector "hooks" {
  plugin       = "http"
  url          = "%[2]s"
  token_env    = "AIMDB_T_HTTP_TOKEN"
  max_attempts = 1
}
connector "basic" {
  plugin             = "http"
  url                = "%[2]s"
  basic_user         = "alice"
  basic_password_env = "AIMDB_T_HTTP_PASS"
  max_attempts       = 1
}
connector "kafka" {
  url               = "kafka://%[3]s"
  sasl_user         = "aimdb"
  sasl_password_env = "AIMDB_T_KAFKA_PASS"
}
record "alerts" {
  writable = true
  link_to "hooks://alerts" {}
  link_to "basic://alerts" {}
  link_to "mqtt://alerts" {}
  link_to "plant-b://alerts" { delivery = "best_effort" }
  link_to "kafka://alerts" {}
}
`
)

// secretForms lists every form of every secret that must not show: as is, base64
// (both alphabets), URL-encoded, and inside the user:password pair basic auth and
// URL userinfo encode.
func secretForms() map[string]string {
	forms := map[string]string{}
	add := func(name, s string) {
		forms[name] = s
		forms[name+" base64"] = base64.StdEncoding.EncodeToString([]byte(s))
		forms[name+" base64url"] = base64.URLEncoding.EncodeToString([]byte(s))
		forms[name+" url-encoded"] = url.QueryEscape(s)
	}
	for name, s := range map[string]string{"mqtt password": mqttPass, "mqtt wrong password": mqttWrong,
		"http token": httpToken, "http password": httpPass, "kafka password": kafkaPass, "unrelated secret": unrelated} {
		add(name, s)
	}
	add("http basic pair", httpUser+":"+httpPass)
	add("mqtt pair", brokerUser+":"+mqttPass)
	add("kafka pair", kafkaUser+":"+kafkaPass)
	return forms
}

// shows returns the secret forms text shows.
func shows(text string) []string {
	var out []string
	for name, f := range secretForms() {
		if strings.Contains(text, f) {
			out = append(out, name)
		}
	}
	return out
}

// TestSecretsNeverShown runs the host with each kind of secret against real peers — a
// mosquitto with a password file, a Kafka cluster with SASL, and an HTTP server that
// echoes the Authorization header it got in its 401 body — and greps everything a
// user or another process can see for any secret in any form: the host's and the
// plugins' log lines, errors (link list, dead letters), graph, plugins list, record
// list, check, and each plugin process's command line and environment (what ps
// shows), which may hold only the variables its own instances name.
func TestSecretsNeverShown(t *testing.T) {
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{Users: map[string]string{brokerUser: mqttPass}})
	cluster := kafkatest.StartCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", kafkaUser, kafkaPass), kfake.SeedTopics(1, "alerts"))
	var mu sync.Mutex
	var seen []string // Authorization headers the server got
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		mu.Lock()
		seen = append(seen, auth)
		mu.Unlock()
		_, cred, _ := strings.Cut(auth, " ")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "denied. You sent Authorization: %s (credential %s, url-encoded %s)", auth, cred, url.QueryEscape(cred))
	}))
	defer hooks.Close()

	t.Setenv("AIMDB_T_MQTT_PASS", mqttPass)
	t.Setenv("AIMDB_T_MQTT_WRONG", mqttWrong)
	t.Setenv("AIMDB_T_HTTP_TOKEN", httpToken)
	t.Setenv("AIMDB_T_HTTP_PASS", httpPass)
	t.Setenv("AIMDB_T_KAFKA_PASS", kafkaPass)
	t.Setenv("AIMDB_T_UNRELATED", unrelated)
	src := fmt.Sprintf(secretsConf, broker.Addr, hooks.URL, cluster.Addr)
	sub := mqtttest.Connect(t, broker.Addr, mqtttest.ClientOptions{Username: brokerUser, Password: mqttPass})
	sub.Subscribe("alerts", 1)

	in := startInstance(t, src, "--plugins", realPluginDir, "--log-level", "trace", "--drain-timeout", "1s")
	var outputs []string // everything the test saw, to grep at the end
	run := func(args ...string) string {
		r := aimdb(t, in.env, args...)
		outputs = append(outputs, fmt.Sprintf("$ aimdb %s (exit %d)\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr))
		return r.stdout
	}
	if r := aimdb(t, in.env, "record", "set", "alerts", `{"level":3}`); r.code != 0 {
		t.Fatalf("record set: %+v", r)
	}

	// The secrets are in use: each peer got its credential, and the wrong one was refused.
	if m := sub.Next(20 * time.Second); string(m.Payload) != `{"level":3}` {
		t.Fatalf("mqtt got %q", m.Payload)
	}
	var links []control.LinkStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		links = nil
		json.Unmarshal([]byte(run("link", "list", "-o", "json")), &links)
		done := len(links) == 5
		for _, l := range links {
			switch l.Instance {
			case "hooks", "basic":
				done = done && l.Stats.DeadLettered == 1
			case "kafka", "mqtt":
				done = done && l.Stats.Delivered == 1
			}
		}
		if done && strings.Contains(in.logs(), "refused the login") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("links did not settle (hooks and basic dead-lettered, kafka and mqtt delivered, plant-b refused):\n%s\n%s", outputs[len(outputs)-1], in.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	got := strings.Join(seen, "\n")
	mu.Unlock()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(httpUser+":"+httpPass))
	if !strings.Contains(got, "Bearer "+httpToken) || !strings.Contains(got, basic) {
		t.Fatalf("the HTTP server did not get both credentials: %q", got)
	}

	run("link", "list")
	run("connector", "list")
	var conns []control.ConnectorStatus
	json.Unmarshal([]byte(run("connector", "list", "-o", "json")), &conns)
	run("record", "list")
	run("record", "list", "-o", "json")
	run("record", "get", "aimdb.dead_letters")
	run("graph")
	run("graph", "--dot")
	run("plugins", "list", "--plugins", realPluginDir)
	run("plugins", "list", "--plugins", realPluginDir, "-o", "json")
	cfg := filepath.Join(t.TempDir(), "aimdb.hcl")
	os.WriteFile(cfg, []byte(strings.Replace(src, `max_attempts = 1`, `max_attempts = "x"`, 1)), 0o600)
	run("check", "--config", cfg, "--plugins", realPluginDir, "--log-level", "trace")
	if ps, err := exec.Command("ps", "-eww", "-o", "pid,ppid,args").Output(); err == nil {
		outputs = append(outputs, "$ ps\n"+string(ps))
	} else {
		t.Errorf("ps: %v", err)
	}

	// Each plugin process: no secret on its command line; in its environment only the
	// variables its own instances name (and harmless ones), so no other secret.
	named := map[string][]string{
		"mqtt":  {"AIMDB_T_MQTT_PASS"},
		"http":  {"AIMDB_T_HTTP_TOKEN", "AIMDB_T_HTTP_PASS"},
		"kafka": {"AIMDB_T_KAFKA_PASS"},
	}
	pids := map[string]int{}
	for _, c := range conns {
		pids[c.Kind] = c.Pid
	}
	if len(pids) != 3 {
		t.Fatalf("want three plugin processes, got %+v", conns)
	}
	for kind, pid := range pids {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, fmt.Sprintf("$ cat /proc/%d/cmdline # %s\n%s", pid, kind, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, kv := range strings.Split(string(environ), "\x00") {
			name, _, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(name, "AIMDB_T_") {
				if !contains(named[kind], name) {
					t.Errorf("plugin %s (pid %d) got %s", kind, pid, name)
				}
				continue // its own secret, by design
			}
			kept = append(kept, kv)
		}
		outputs = append(outputs, fmt.Sprintf("$ cat /proc/%d/environ # %s, without its own variables\n%s", pid, kind, strings.Join(kept, "\n")))
	}

	outputs = append(outputs, "$ aimdb run # its log\n"+in.logs())
	all := strings.Join(outputs, "\n")
	// The echoes reached the host (masked): the check below looks where secrets would be.
	if !strings.Contains(all, "Authorization: ***") || !strings.Contains(all, "refused the login") {
		t.Errorf("the 401 echo or the refused login is not in the output; the check would miss them:\n%s", all)
	}
	if leaked := shows(all); len(leaked) > 0 {
		for _, block := range outputs {
			if s := shows(block); len(s) > 0 {
				t.Errorf("shows %v:\n%s", s, block)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
