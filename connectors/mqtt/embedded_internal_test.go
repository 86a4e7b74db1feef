package mqtt

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestEmbeddedBrokerCleanStopIsQuiet: closing the broker cuts its clients'
// connections without a WARN each, while a client that really misbehaves is still
// reported.
func TestEmbeddedBrokerCleanStopIsQuiet(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	})})
	logs := func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
	b, err := startEmbeddedBroker("demo", "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	garbage, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	garbage.Write([]byte("not mqtt"))
	garbage.Close()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs(), "[WARN]"); {
		if time.Now().After(deadline) {
			t.Fatalf("a client sending garbage was not reported:\n%s", logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := strings.Count(logs(), "[WARN]")
	client, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	// MQTT 3.1.1 CONNECT, clean session, keep-alive 60 s, client id "t"; then CONNACK.
	client.Write([]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 't'})
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	connack := make([]byte, 4)
	if _, err := io.ReadFull(client, connack); err != nil || connack[0] != 0x20 || connack[3] != 0 {
		t.Fatalf("CONNACK %x, %v", connack, err)
	}
	b.close()
	time.Sleep(100 * time.Millisecond)
	if n := strings.Count(logs(), "[WARN]"); n != before {
		t.Errorf("closing the broker logged %d WARN(s):\n%s", n-before, logs())
	}
}

// writerFunc adapts a function to io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
