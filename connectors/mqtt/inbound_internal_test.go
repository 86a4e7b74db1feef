package mqtt

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// fakeMessage is a paho.Message that records when it is acknowledged.
type fakeMessage struct {
	topic string
	qos   byte
	acked *[]string
	mu    *sync.Mutex
}

func (m fakeMessage) Duplicate() bool   { return false }
func (m fakeMessage) Qos() byte         { return m.qos }
func (m fakeMessage) Retained() bool    { return false }
func (m fakeMessage) Topic() string     { return m.topic }
func (m fakeMessage) MessageID() uint16 { return 0 }
func (m fakeMessage) Payload() []byte   { return []byte(m.topic) }
func (m fakeMessage) Ack() {
	m.mu.Lock()
	*m.acked = append(*m.acked, m.topic)
	m.mu.Unlock()
}

func TestAcksGoOutInArrivalOrder(t *testing.T) {
	var held []func(error)
	sink := run.SinkFunc(func(_ run.Message, ack func(error)) { held = append(held, ack) })
	c := &Connector{
		ctx:    context.Background(),
		log:    hclog.NewNullLogger(),
		router: run.NewRouter([]sdk.Route{{ID: 1, Resource: "t/#"}}, sink),
		rc:     &sdk.Reconnector{},
	}
	c.inbound.init(c, 10)
	var mu sync.Mutex
	var acked []string
	for i := range 4 {
		c.onMessage(nil, fakeMessage{topic: fmt.Sprintf("t/%d", i), qos: 1, acked: &acked, mu: &mu})
	}
	c.onMessage(nil, fakeMessage{topic: "t/qos0", qos: 0, acked: &acked, mu: &mu})

	held[4](nil) // QoS 0: nothing to acknowledge, nothing waits for it
	held[2](nil)
	held[1](sdk.Errorf(sdk.KindRejected, "bad payload")) // rejected is still acknowledged
	if len(acked) != 0 {
		t.Fatalf("acked %v before the first message was settled", acked)
	}
	held[0](nil)
	if fmt.Sprint(acked) != "[t/0 t/1 t/2]" {
		t.Fatalf("acked %v, want [t/0 t/1 t/2]", acked)
	}
	c.inbound.newConnection() // the connection is lost: t/3's ack is owed to it no more
	held[3](nil)
	if fmt.Sprint(acked) != "[t/0 t/1 t/2]" {
		t.Fatalf("acked %v after the connection was lost", acked)
	}
	if st := c.Stats(); st.Received != 5 || st.Delivered != 4 || st.Rejected != 1 || len(c.inbound.slots) != 0 {
		t.Fatalf("stats %+v, slots in use %d", st, len(c.inbound.slots))
	}
}
