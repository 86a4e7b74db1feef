package mqtt_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

func TestPublishErrorsAreClassified(t *testing.T) {
	t.Parallel()
	dead := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t)) // nothing listens here
	inst := start(t, "mqtt", "mqtt://"+dead, sdk.Config{"max_payload": "16"})
	for _, tc := range []struct {
		topic   string
		cfg     sdk.Config
		payload string
		kind    sdk.ErrorKind
		says    string
	}{
		{"a/+/b", nil, "x", sdk.KindInvalidDestination, "wildcard"},
		{"a/#", nil, "x", sdk.KindInvalidDestination, "wildcard"},
		{"", nil, "x", sdk.KindInvalidDestination, "empty topic"},
		{"a\x00b", nil, "x", sdk.KindInvalidDestination, "NUL"},
		{"a/b", sdk.Config{"qos": "3"}, "x", sdk.KindUnsupportedQoS, `"qos"`},
		{"a/b", sdk.Config{"qos": "high"}, "x", sdk.KindUnsupportedQoS, `"high"`},
		{"a/b", sdk.Config{"retain": "maybe"}, "x", sdk.KindInvalidConfig, `"retain"`},
		{"a/b", nil, strings.Repeat("x", 17), sdk.KindMessageTooLarge, "max_payload (16)"},
		{"a/b", nil, "fits", sdk.KindConnectionFailed, dead},
	} {
		begin := time.Now()
		err := inst.Publish(context.Background(), tc.topic, tc.cfg, []byte(tc.payload))
		if sdk.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("publish %q %v: %v, want kind %v saying %q", tc.topic, tc.cfg, err, tc.kind, tc.says)
		}
		if d := time.Since(begin); d > time.Second {
			t.Errorf("publish %q took %v; errors must come back at once", tc.topic, d)
		}
	}
	if st := inst.conn.Stats(); st.PublishNotConnected != 1 || st.Published != 0 {
		t.Errorf("stats = %+v", st)
	}
	if err := inst.Health(context.Background()); sdk.KindOf(err) != sdk.KindConnectionFailed || !strings.Contains(err.Error(), dead) {
		t.Errorf("health = %v", err)
	}
	if err := inst.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := inst.conn.Publish(context.Background(), "a/b", nil, nil); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("publish after close: %v", err)
	}
}

func TestPublishTimesOutWithoutAcknowledgement(t *testing.T) {
	t.Parallel()
	broker := mqtttest.StartMosquitto(t, mqtttest.Options{})
	inst := start(t, "mqtt", broker.URL(false), sdk.Config{"keepalive": "0s"})
	inst.waitHealthy(t, 5*time.Second)
	// Freeze the broker: the connection stays up but nothing is acknowledged.
	if err := broker.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = broker.Signal(syscall.SIGCONT) }()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := inst.Publish(ctx, "frozen", sdk.Config{"qos": "1"}, []byte("x"))
	if sdk.KindOf(err) != sdk.KindTimeout || !strings.Contains(err.Error(), broker.Addr) {
		t.Fatalf("err = %v, want a timeout naming the broker", err)
	}
}
