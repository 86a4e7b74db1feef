package sdk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestForLinkKeepsKindAndOption(t *testing.T) {
	link := LinkSpec{ID: 7, Direction: Outbound, Resource: "alerts/high", Record: "alerts"}
	err := ForLink(link, errors.Join(
		OptionErrorf(KindUnsupportedQoS, "qos", "want 0, 1 or 2, got %q", "7"),
		Wrap(KindInvalidConfig, errors.Join(errors.New("a"), Errorf(KindInvalidDestination, "b"))),
		errors.New("plain"),
	))
	want := []struct {
		kind   ErrorKind
		option string
		text   string
	}{
		{KindUnsupportedQoS, "qos", `unsupported QoS: link_to "alerts/high" (record "alerts"): option "qos": want 0, 1 or 2, got "7"`},
		{KindInvalidConfig, "", `invalid config: link_to "alerts/high" (record "alerts"): a`},
		{KindInvalidDestination, "", `invalid destination: link_to "alerts/high" (record "alerts"): b`},
		{KindInvalidConfig, "", `invalid config: link_to "alerts/high" (record "alerts"): plain`},
	}
	parts := Split(err)
	if len(parts) != len(want) {
		t.Fatalf("Split = %d mistakes, want %d: %v", len(parts), len(want), err)
	}
	for i, w := range want {
		var oe *OptionError
		if !errors.As(parts[i], &oe) || oe.Link == nil || oe.Link.ID != 7 || oe.Option != w.option || KindOf(parts[i]) != w.kind || parts[i].Error() != w.text {
			t.Errorf("mistake %d = %q (%v), want %q, kind %v, option %q, link 7", i, parts[i], KindOf(parts[i]), w.text, w.kind, w.option)
		}
	}
	if ForLink(link, nil) != nil || AtOption("url", nil) != nil || Split(nil) != nil {
		t.Error("nil must stay nil")
	}
	at := AtOption("url", fmt.Errorf("url x: no host"))
	var oe *OptionError
	if !errors.As(at, &oe) || oe.Option != "url" || KindOf(at) != KindInvalidConfig || at.Error() != "invalid config: url x: no host" {
		t.Errorf("AtOption = %q", at)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"qos", "retain", "client_id", "keepalive", "color"}
	for name, want := range map[string]string{
		"colour": "color", "retian": "retain", "qso": "qos", "keep_alive": "keepalive",
		"clientid": "client_id", "bogus": "", "x": "", "dpt": "",
	} {
		if got := Suggest(name, known); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestEnvNames(t *testing.T) {
	c := Config{"password_env": " MQTT_PASS ", "token_env": "TOKEN", "sasl_password_env": "TOKEN", "password": "x", "empty_env": ""}
	if got := strings.Join(c.EnvNames(), ","); got != "MQTT_PASS,TOKEN" {
		t.Errorf("EnvNames = %s", got)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("hello"), 0o600)
	if b, err := ReadFile("ets_csv", small, 0); err != nil || string(b) != "hello" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		limit int64
		want  string
	}{
		{small, 4, "is 5 bytes, more than the limit of 4"},
		{"/dev/zero", 0, "is a character device, not a regular file"},
		{fifo, 0, "is a named pipe, not a regular file"}, // opening it would block
		{dir, 0, "is a directory, not a regular file"},
		{filepath.Join(dir, "none"), 0, "no such file"},
	} {
		start := time.Now()
		_, err := ReadFile("tls_ca", tc.path, tc.limit)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != "tls_ca" || KindOf(err) != KindInvalidConfig ||
			!strings.Contains(err.Error(), `option "tls_ca": `) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadFile(%s) = %v, want an invalid-config OptionError saying %q", tc.path, err, tc.want)
		}
		if time.Since(start) > time.Second {
			t.Errorf("ReadFile(%s) took %v", tc.path, time.Since(start))
		}
	}
}

func TestParseConnectorURL(t *testing.T) {
	for _, ok := range []string{
		"mqtt://127.0.0.1:1883", "mqtts://user:p%40ss@broker.local:8883", "kafka://a:9092,b-2.example:9093",
		"https://api.example.com/v1/hooks%20x?key=1", "mqtt://[::1]:1883", "udp://:9999", "knx://gw_1",
	} {
		if _, err := ParseConnectorURL(ok); err != nil {
			t.Errorf("ParseConnectorURL(%q) = %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"mqtt://%zz":                 `host "%zz": character '%'`,
		"mqtt://h:99999":             `port "99999" is not a number in 1..65535`,
		"mqtt://h:0":                 `port "0"`,
		"mqtt://h:":                  "empty port",
		"mqtt://a b:1":               "space or control character",
		"mqtt://[::1":                "missing ']'",
		"mqtt://[127.0.0.1]:1":       "is not an IPv6 address",
		"https://h/a%zzb":            "bad percent-escape",
		"mqtt://u:p%zz@h":            "bad password encoding",
		"mqtt://user:secret@h:70000": `user:***@h:70000`,
	} {
		_, err := ParseConnectorURL(bad)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseConnectorURL(%q) = %v, want an error containing %q", bad, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	// Link URLs stay lenient: a topic is no host.
	if _, err := ParseURL("mqtt://$SYS/broker/load"); err != nil {
		t.Errorf("ParseURL of a topic: %v", err)
	}
}
