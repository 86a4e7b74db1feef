package ops

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
)

// bridgeConfig bridges MQTT in/t -> record bridge.t -> MQTT out/t, and has a writable
// record that publishes to out/cmd.
func bridgeConfig(broker string) string {
	return fmt.Sprintf(`
connector "mqtt" {
  url           = %q
  reconnect_min = "50ms"
  reconnect_max = "200ms"
}
record "bridge.t" {
  capacity = 1024
  link_from "mqtt://in/t" { qos = 1 }
  link_to   "mqtt://out/t" { qos = 1 }
}
record "bridge.cmd" {
  buffer   = "single_latest"
  writable = true
  link_to "mqtt://out/cmd" {
    qos       = 1
    retry_min = "50ms"
    retry_max = "200ms"
  }
}
`, broker)
}

// TestMetricsDuringMQTTBridge scrapes /metrics while values flow through an MQTT
// bridge on mosquitto: the counters rise by exactly the values sent, the connector's
// own counters arrive through the plugin boundary; with the broker stopped the
// link's state gauge shows retrying and /readyz answers 503 naming the link; with the
// broker back, 200 again.
func TestMetricsDuringMQTTBridge(t *testing.T) {
	mosq := mqtttest.StartMosquitto(t, mqtttest.Options{Quiet: true})
	h := startHub(t, bridgeConfig(mosq.URL(false)), Options{Version: "test"})
	out := mqtttest.Connect(t, mosq.Addr, mqtttest.ClientOptions{})
	out.Subscribe("out/t", 1)
	in := mqtttest.Connect(t, mosq.Addr, mqtttest.ClientOptions{})

	eventually(t, 10*time.Second, "ready", func() bool { code, _ := get(t, h.base+"/readyz"); return code == http.StatusOK })
	if code, body := get(t, h.base+"/healthz"); code != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	inLink := map[string]string{"record": "bridge.t", "link": "mqtt://in/t", "direction": "link_from"}
	outLink := map[string]string{"record": "bridge.t", "link": "mqtt://out/t", "direction": "link_to"}
	mqttInst := map[string]string{"instance": "mqtt", "kind": "mqtt"}
	counters := []struct {
		name   string
		labels map[string]string
	}{
		{"aimdb_record_produced_total", map[string]string{"record": "bridge.t"}},
		{"aimdb_link_inbound_accepted_total", inLink},
		{"aimdb_link_delivered_total", outLink},
		{"aimdb_link_publish_latency_seconds", outLink},
		{"aimdb_connector_mqtt_published_total", mqttInst},
		{"aimdb_connector_mqtt_delivered_total", mqttInst},
	}
	before := scrape(t, h.base)
	for _, c := range counters {
		if _, ok := before.value(c.name, c.labels); !ok {
			t.Fatalf("%s%v missing before the run", c.name, c.labels)
		}
	}

	const n = 500
	for i := range n {
		in.Publish("in/t", 1, false, []byte(fmt.Sprintf(`{"i":%d}`, i)))
	}
	for i := range n {
		m := out.Next(10 * time.Second)
		if want := fmt.Sprintf(`{"i":%d}`, i); string(m.Payload) != want {
			t.Fatalf("out/t message %d = %s, want %s", i, m.Payload, want)
		}
	}
	// The connector's own counters come with the health check, once a second.
	var after metrics
	eventually(t, 5*time.Second, "connector counters through the plugin boundary", func() bool {
		after = scrape(t, h.base)
		v, _ := after.value("aimdb_connector_mqtt_delivered_total", mqttInst)
		w, _ := before.value("aimdb_connector_mqtt_delivered_total", mqttInst)
		return v-w >= n
	})
	for _, c := range counters {
		b, _ := before.value(c.name, c.labels)
		a, _ := after.value(c.name, c.labels)
		if a-b != n {
			t.Errorf("%s%v rose by %v, want exactly %d", c.name, c.labels, a-b, n)
		}
	}
	if v, _ := after.value("aimdb_link_state", mergeLabels(outLink, "state", "ok")); v != 1 {
		t.Errorf("link state ok = %v, want 1", v)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "aimdb_build_info", "aimdb_plugin_up", "aimdb_connector_up"} {
		if after[name] == nil {
			t.Errorf("%s missing", name)
		}
	}

	// Broker down: a value for out/cmd fails and is retried.
	mosq.Stop()
	if err := h.db.SetJSON("bridge.cmd", json.RawMessage(`{"on":true}`)); err != nil {
		t.Fatal(err)
	}
	cmdLink := map[string]string{"record": "bridge.cmd", "link": "mqtt://out/cmd", "direction": "link_to"}
	eventually(t, 10*time.Second, "link state gauge retrying", func() bool {
		m := scrape(t, h.base)
		r, _ := m.value("aimdb_link_state", mergeLabels(cmdLink, "state", "retrying"))
		o, _ := m.value("aimdb_link_state", mergeLabels(cmdLink, "state", "ok"))
		return r == 1 && o == 0
	})
	m := scrape(t, h.base)
	if v, _ := m.value("aimdb_link_failed_total", mergeLabels(cmdLink, "kind", "connection failed")); v < 1 {
		t.Errorf("failed_total{kind=connection failed} = %v during the outage", v)
	}
	var ready Readiness
	eventually(t, 10*time.Second, "/readyz 503 naming the link", func() bool {
		code, body := get(t, h.base+"/readyz")
		if code != http.StatusServiceUnavailable {
			return false
		}
		if err := json.Unmarshal(body, &ready); err != nil {
			t.Fatalf("/readyz body: %v\n%s", err, body)
		}
		return strings.Contains(string(body), `"url": "mqtt://out/cmd"`) && strings.Contains(string(body), `"state": "retrying"`)
	})
	if ready.Ready || len(ready.Reasons) == 0 || ready.Reasons[0].Connector != "mqtt" {
		t.Errorf("readiness during the outage: %+v", ready)
	}

	// Broker back: the value goes out, the link is ok and the hub ready.
	mosq.Start()
	eventually(t, 15*time.Second, "/readyz 200 after the broker is back", func() bool {
		code, _ := get(t, h.base+"/readyz")
		return code == http.StatusOK
	})
	eventually(t, 10*time.Second, "link ok and value delivered", func() bool {
		m := scrape(t, h.base)
		ok, _ := m.value("aimdb_link_state", mergeLabels(cmdLink, "state", "ok"))
		d, _ := m.value("aimdb_link_delivered_total", cmdLink)
		return ok == 1 && d == 1
	})
}

// mergeLabels returns labels plus one more.
func mergeLabels(labels map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range labels {
		out[a] = b
	}
	return out
}
