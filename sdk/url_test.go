package sdk

import (
	"slices"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in       string
		scheme   string
		user     string
		password string
		hosts    []string
		path     string
		resource string
		query    map[string]string
		str      string // String(), password masked
	}{
		{in: "mqtt://127.0.0.1:1883", scheme: "mqtt", hosts: []string{"127.0.0.1:1883"}, resource: "127.0.0.1:1883", str: "mqtt://127.0.0.1:1883"},
		{in: "mqtt://sensors/+/temp", scheme: "mqtt", hosts: []string{"sensors"}, path: "/+/temp", resource: "sensors/+/temp", str: "mqtt://sensors/+/temp"},
		{in: "MQTT://Broker", scheme: "mqtt", hosts: []string{"Broker"}, resource: "Broker", str: "mqtt://Broker"},
		{in: "mqtt://user:s3cret@127.0.0.1:1883", scheme: "mqtt", user: "user", password: "s3cret", hosts: []string{"127.0.0.1:1883"}, resource: "127.0.0.1:1883", str: "mqtt://user:***@127.0.0.1:1883"},
		{in: "mqtt://user@host", scheme: "mqtt", user: "user", hosts: []string{"host"}, resource: "host", str: "mqtt://user@host"},
		{in: "mqtt://us%40er:p%3Aw@host", scheme: "mqtt", user: "us@er", password: "p:w", hosts: []string{"host"}, resource: "host", str: "mqtt://us@er:***@host"},
		{in: "mqtt://a:p@b@host/t", scheme: "mqtt", user: "a", password: "p@b", hosts: []string{"host"}, path: "/t", resource: "host/t", str: "mqtt://a:***@host/t"},
		{in: "kafka://k1:9092,k2:9093", scheme: "kafka", hosts: []string{"k1:9092", "k2:9093"}, resource: "k1:9092,k2:9093", str: "kafka://k1:9092,k2:9093"},
		{in: "knx://1/2/3", scheme: "knx", hosts: []string{"1"}, path: "/2/3", resource: "1/2/3", str: "knx://1/2/3"},
		{in: "http:///alerts/high", scheme: "http", path: "/alerts/high", resource: "/alerts/high", str: "http:///alerts/high"},
		{in: "mqtt://t/x?qos=1&retain=true", scheme: "mqtt", hosts: []string{"t"}, path: "/x", resource: "t/x", query: map[string]string{"qos": "1", "retain": "true"}, str: "mqtt://t/x?qos=1&retain=true"},
		{in: "knx+routing://224.0.23.12", scheme: "knx+routing", hosts: []string{"224.0.23.12"}, resource: "224.0.23.12", str: "knx+routing://224.0.23.12"},
		{in: "plant-b.mqtt_2://x", scheme: "plant-b.mqtt_2", hosts: []string{"x"}, resource: "x", str: "plant-b.mqtt_2://x"},
		{in: "mqtt://[::1]:1883", scheme: "mqtt", hosts: []string{"[::1]:1883"}, resource: "[::1]:1883", str: "mqtt://[::1]:1883"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			u, err := ParseURL(tc.in)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if u.Scheme != tc.scheme || u.User != tc.user || u.Password != tc.password || !slices.Equal(u.Hosts, tc.hosts) || u.Path != tc.path || u.Resource() != tc.resource {
				t.Fatalf("got scheme %q user %q password %q hosts %q path %q resource %q", u.Scheme, u.User, u.Password, u.Hosts, u.Path, u.Resource())
			}
			for k, v := range tc.query {
				if u.Query.Get(k) != v {
					t.Errorf("query %s = %q, want %q", k, u.Query.Get(k), v)
				}
			}
			if len(u.Query) != len(tc.query) {
				t.Errorf("query %v, want %v", u.Query, tc.query)
			}
			if got := u.String(); got != tc.str {
				t.Errorf("String() = %q, want %q", got, tc.str)
			}
			if tc.password != "" && strings.Contains(u.String(), tc.password) {
				t.Errorf("String() leaks the password: %q", u.String())
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"127.0.0.1:1883", `missing "://"`},
		{"://host", "empty scheme"},
		{"1mqtt://host", "must start with a letter"},
		{"mq tt://host", "must start with a letter and hold only"},
		{"mqtt://", `nothing after "://"`},
		{"mqtt://a,,b", "empty host in host list"},
		{"mqtt://h/t?a=%zz", "bad query"},
		{"mqtt://u%zz:pw@h", "bad user name"},
		{"mqtt://u:p%zz@h", "bad password encoding"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseURL(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseURL(%q) = %v, want an error containing %q", tc.in, err, tc.want)
			}
		})
	}
	// Errors never print the password, even when the URL does not parse.
	_, err := ParseURL("mqtt://user:hunter2@h/t?a=%zz")
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "user:***@") {
		t.Fatalf("error leaks or loses the masked password: %v", err)
	}
}

func TestURLHostPortAddrs(t *testing.T) {
	for _, tc := range []struct {
		in          string
		defaultPort int
		host        string
		port        int
		addrs       []string
		err         string
	}{
		{in: "mqtt://broker", defaultPort: 1883, host: "broker", port: 0, addrs: []string{"broker:1883"}},
		{in: "mqtt://broker:2883", defaultPort: 1883, host: "broker", port: 2883, addrs: []string{"broker:2883"}},
		{in: "kafka://k1,k2:9093", defaultPort: 9092, host: "k1", port: 0, addrs: []string{"k1:9092", "k2:9093"}},
		{in: "mqtt://[::1]:1884", host: "::1", port: 1884, addrs: []string{"[::1]:1884"}},
		{in: "mqtt://[::1]", defaultPort: 1883, host: "::1", port: 0, addrs: []string{"[::1]:1883"}},
		{in: "custom://h", host: "h", port: 0, err: "has no port and scheme \"custom\" has no default"},
		{in: "mqtt://h:99999", host: "h", port: 99999, err: `port "99999" is not a number in 1..65535`},
		{in: "mqtt://h:0", host: "h", port: 0, err: `port "0" is not a number in 1..65535`},
		{in: "mqtt://h:abc", host: "h", port: 0, err: `port "abc" is not a number`},
		{in: "mqtt://:1883", host: "", port: 1883, err: "empty host"},
		{in: "http:///path", defaultPort: 80, host: "", port: 0, err: "no host"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			u := MustParseURL(tc.in)
			if u.Host() != tc.host || u.Port() != tc.port {
				t.Errorf("Host() %q Port() %d, want %q %d", u.Host(), u.Port(), tc.host, tc.port)
			}
			addrs, err := u.Addrs(tc.defaultPort)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Addrs: %v %v, want error containing %q", addrs, err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(addrs, tc.addrs) {
				t.Fatalf("Addrs: %v %v, want %v", addrs, err, tc.addrs)
			}
		})
	}
}

func TestMustParseURLPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MustParseURL did not panic on a bad URL")
		}
	}()
	MustParseURL("no scheme")
}
