package mqtt

import (
	"bytes"
	"testing"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session/state"
)

// A message paho.golang's client does not know to acknowledge (it forgets those that
// arrive before Connect returns) is acknowledged through the session state: a
// PUBACK for its packet id goes out.
func TestV5AckOfAMessageTheClientForgot(t *testing.T) {
	st := state.NewInMemory()
	var conn bytes.Buffer
	if err := st.ConAckReceived(&conn, &packets.Connect{}, &packets.Connack{}); err != nil {
		t.Fatal(err)
	}
	cli := paho.NewClient(paho.ClientConfig{EnableManualAcknowledgment: true, Session: st})
	pub := &paho.Publish{QoS: 1, PacketID: 7, Topic: "t"}
	if err := cli.Ack(pub); err != paho.ErrPacketNotFound {
		t.Fatalf("the client acknowledged a message it never saw: %v", err)
	}
	v5Message{pub: pub, cli: cli, state: st}.Ack()
	cp, err := packets.ReadPacket(&conn)
	if err != nil {
		t.Fatalf("no packet written: %v", err)
	}
	if pa, ok := cp.Content.(*packets.Puback); !ok || pa.PacketID != 7 {
		t.Fatalf("wrote %v, want PUBACK 7", cp)
	}
}
