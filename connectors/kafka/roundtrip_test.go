package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/aimdb-dev/aimdb-go/connectors/kafka"
	"github.com/aimdb-dev/aimdb-go/connectors/kafka/kafkatest"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Values the connector publishes are read back by kcat, with keys from a JSON field
// and the aimdb headers.
func TestPublishReadByKcat(t *testing.T) {
	bin := kafkatest.Kcat(t)
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(1, "events"))
	inst := start(t, "kafka", cl.URL(), nil, nil, nil)
	link := sdk.Config{"key_field": "id"}
	var want []string
	for i := range 5 {
		v := fmt.Sprintf(`{"id":"dev-%d","temp":%d}`, i, 20+i)
		publish(t, inst, "events", link, v)
		want = append(want, "dev-"+fmt.Sprint(i)+"|"+v)
	}
	out := kcat(t, bin, "", "-C", "-b", cl.Addr, "-t", "events", "-o", "beginning", "-e", "-q", "-f", "%k|%s|%h\n")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("kcat read %d records, want %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		head, headers, _ := strings.Cut(line[len(want[i]):], "|")
		if !strings.HasPrefix(line, want[i]) || head != "" {
			t.Errorf("record %d: kcat printed %q, want key|value %q", i, line, want[i])
			continue
		}
		if !strings.Contains(headers, kafka.HeaderKey+"=dev-"+fmt.Sprint(i)) {
			t.Errorf("record %d: headers %q lack %s=dev-%d", i, headers, kafka.HeaderKey, i)
		}
		_, ts, ok := strings.Cut(headers, kafka.HeaderProducedAt+"=")
		ts, _, _ = strings.Cut(ts, ",")
		if at, err := time.Parse(time.RFC3339Nano, ts); !ok || err != nil || time.Since(at) > time.Minute {
			t.Errorf("record %d: headers %q: %s is not a recent RFC 3339 time (%v)", i, headers, kafka.HeaderProducedAt, err)
		}
	}
	if s := inst.Connector().(*kafka.Connector).Stats(); s.Published != 5 || s.PublishErrors != 0 {
		t.Errorf("stats %+v, want 5 published, 0 errors", s)
	}
}

// Lines kcat produces arrive through the router, in order, on the route of their topic.
func TestKcatProducedArriveThroughRouter(t *testing.T) {
	bin := kafkatest.Kcat(t)
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(1, "cmds", "other"))
	rec := newRecorder()
	routes := []sdk.Route{{ID: 7, Resource: "cmds", Record: "cmd"}, {ID: 8, Resource: "other", Record: "o"}}
	start(t, "hub", cl.URL(), sdk.Config{"start_offset": "earliest"}, routes, rec)
	kcat(t, bin, "one\ntwo\nthree\n", "-P", "-b", cl.Addr, "-t", "cmds")
	kcat(t, bin, "x\n", "-P", "-b", cl.Addr, "-t", "other")
	rec.wait(t, 4, 20*time.Second)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var cmds []string
	for _, m := range rec.msgs {
		switch m.Topic {
		case "cmds":
			if m.RouteID != 7 {
				t.Errorf("message %q on cmds went to route %d, want 7", m.Payload, m.RouteID)
			}
			cmds = append(cmds, string(m.Payload))
		case "other":
			if m.RouteID != 8 || string(m.Payload) != "x" {
				t.Errorf("message on other: route %d payload %q, want route 8 payload x", m.RouteID, m.Payload)
			}
		default:
			t.Errorf("message on unexpected topic %q", m.Topic)
		}
	}
	if !slices.Equal(cmds, []string{"one", "two", "three"}) {
		t.Errorf("cmds got %q, want one, two, three in order", cmds)
	}
}

// Publish then consume with the same connector instance: both directions in one.
func TestRoundTripBothWays(t *testing.T) {
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(3, "loop"))
	rec := newRecorder()
	inst := start(t, "loop", cl.URL(), sdk.Config{"start_offset": "earliest"}, []sdk.Route{{ID: 1, Resource: "loop"}}, rec)
	values := seq("v", 50)
	for _, v := range values {
		publish(t, inst, "loop", sdk.Config{"key": "k"}, v) // one key: one partition, order kept
	}
	got := rec.wait(t, len(values), 20*time.Second)
	if !slices.Equal(got, values) {
		t.Errorf("consumed %q, want %q", got, values)
	}
	if s := waitStats(inst, func(s kafka.Stats) bool { return s.Delivered == uint64(len(values)) }); s.Delivered != uint64(len(values)) {
		t.Errorf("stats %+v: want %d delivered", s, len(values))
	}
}

// Every compression codec is accepted and the values read back intact; records with
// keys from a nested JSON field carry that key.
func TestCompressionAndKeys(t *testing.T) {
	cl := kafkatest.StartCluster(t, kfake.SeedTopics(1, "c"))
	inst := start(t, "kafka", cl.URL(), sdk.Config{"compression": "gzip"}, nil, nil)
	codecs := []string{"", "none", "gzip", "snappy", "lz4", "zstd"}
	var want []string
	for i, codec := range codecs {
		cfg := sdk.Config{"key_field": "dev.id"}
		if codec != "" {
			cfg["compression"] = codec
		}
		v := fmt.Sprintf(`{"dev":{"id":%d},"codec":%q,"pad":%q}`, i, codec, strings.Repeat("x", 500))
		publish(t, inst, "c", cfg, v)
		want = append(want, v)
	}
	recs := readAll(t, cl.Addr, "c", len(want))
	for i, r := range recs {
		if string(r.Value) != want[i] || string(r.Key) != fmt.Sprint(i) {
			t.Errorf("record %d: key %q value %.40q, want key %d value %.40q", i, r.Key, r.Value, i, want[i])
		}
	}
}

// A topic that does not exist, with auto-creation off, fails with a clear error that
// names it; with auto-creation on (connector and cluster) the same publish works.
func TestMissingTopic(t *testing.T) {
	cl := kafkatest.StartCluster(t, kfake.AllowAutoTopicCreation(), kfake.SeedTopics(1, "exists"))
	inst := start(t, "kafka", cl.URL(), sdk.Config{"publish_timeout": "15s"}, []sdk.Route{{ID: 1, Resource: "nowhere-in"}}, newRecorder())
	ctx := context.Background()
	t0 := time.Now()
	err := inst.Publish(ctx, "nowhere", nil, []byte("v"))
	if sdk.KindOf(err) != sdk.KindInvalidDestination || !strings.Contains(err.Error(), `"nowhere"`) || !strings.Contains(err.Error(), "auto_create_topics") {
		t.Fatalf("publish to a missing topic: %v (kind %v), want invalid destination naming \"nowhere\" and auto_create_topics", err, sdk.KindOf(err))
	}
	t.Logf("missing topic reported after %s: %v", time.Since(t0).Round(time.Millisecond), err)
	herr := inst.Health(ctx)
	if sdk.KindOf(herr) != sdk.KindInvalidDestination || !strings.Contains(fmt.Sprint(herr), `"nowhere-in"`) {
		t.Errorf("health with a missing link_from topic: %v, want invalid destination naming \"nowhere-in\"", herr)
	}
	if err := inst.Publish(ctx, "exists", nil, []byte("v")); err != nil {
		t.Errorf("publish to an existing topic: %v", err)
	}

	auto := start(t, "auto", cl.URL(), sdk.Config{"auto_create_topics": "true"}, nil, nil)
	publish(t, auto, "made-on-demand", nil, "v")
	if recs := readAll(t, cl.Addr, "made-on-demand", 1); string(recs[0].Value) != "v" {
		t.Errorf("auto-created topic holds %q, want v", recs[0].Value)
	}
}
