package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt/mqtttest"
	"github.com/aimdb-dev/aimdb-go/internal/seqload"
)

// startBroker starts a quiet mosquitto that queues without limit (the defaults drop
// QoS 1 messages beyond 1000 queued for a slow or offline client, a loss that would
// be the broker's, not AimDB's), queues QoS 0 for offline persistent sessions, and
// keeps sessions across restarts when persistent.
func startBroker(t *testing.T, persistent bool) *mqtttest.Mosquitto {
	t.Helper()
	return mqtttest.StartMosquitto(t, mqtttest.Options{
		Quiet:       true,
		Persistence: persistent,
		Extra:       "max_queued_messages 0\nmax_queued_bytes 0\nqueue_qos0_messages true\nmax_inflight_messages 1000\n",
	})
}

var clientSeq atomic.Int64

// mqttClient connects a paho client to addr. A persistent client keeps its session
// (and reconnects by itself); onConnect runs after every connect.
func mqttClient(t *testing.T, addr, id string, persistent bool, onMsg paho.MessageHandler, onConnect paho.OnConnectHandler) paho.Client {
	t.Helper()
	if id == "" {
		id = fmt.Sprintf("faults-%d", clientSeq.Add(1))
	}
	opts := paho.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetProtocolVersion(4).
		SetCleanSession(!persistent).
		SetAutoReconnect(persistent).
		SetMaxReconnectInterval(250 * time.Millisecond).
		SetKeepAlive(2 * time.Minute). // a subscriber that sends nothing leaves nothing unread at the broker
		SetConnectTimeout(5 * time.Second).
		SetOrderMatters(true).
		SetCustomOpenConnectionFn(bufferedDial)
	if onMsg != nil {
		opts.SetDefaultPublishHandler(onMsg)
	}
	if onConnect != nil {
		opts.SetOnConnectHandler(onConnect)
	}
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt client %s: connect to %s: %v", id, addr, tokenErr(tok))
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// bufferedDial buffers reads: paho reads packet headers a byte at a time.
func bufferedDial(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", uri.Host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &readBuffered{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

type readBuffered struct {
	net.Conn
	r *bufio.Reader
}

func (c *readBuffered) Read(p []byte) (int, error) { return c.r.Read(p) }

func tokenErr(t paho.Token) error {
	if err := t.Error(); err != nil {
		return err
	}
	return errors.New("timed out")
}

// collect subscribes a client to filter on the broker at addr and counts every
// payload that arrives in ctr. A persistent collector keeps its session across broker
// restarts and subscribes again after every reconnect.
func collect(t *testing.T, addr, filter string, qos byte, persistent bool, ctr *seqload.Counter) paho.Client {
	t.Helper()
	onMsg := func(_ paho.Client, m paho.Message) { _ = ctr.Observe(m.Payload()) }
	var c paho.Client
	var onConnect paho.OnConnectHandler
	if persistent {
		onConnect = func(c paho.Client) { c.Subscribe(filter, qos, nil) } // not awaited: this runs on paho's goroutine
	}
	c = mqttClient(t, addr, "", persistent, onMsg, onConnect)
	if tok := c.Subscribe(filter, qos, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s on %s: %v", filter, addr, tokenErr(tok))
	}
	return c
}

// mqttPublisher publishes one topic at QoS 1 with up to window publishes awaiting
// their PUBACK, so a burst is pipelined.
type mqttPublisher struct {
	c       paho.Client
	topic   string
	pending []paho.Token
	window  int
}

func newMQTTPublisher(t *testing.T, addr, topic string) *mqttPublisher {
	return &mqttPublisher{c: mqttClient(t, addr, "", false, nil, nil), topic: topic, window: 256}
}

// Publish hands a payload to paho, waiting for the oldest publish when the window
// is full; it is a seqload Generator's Publish.
func (p *mqttPublisher) Publish(_ uint64, payload []byte) error {
	if len(p.pending) >= p.window {
		if err := p.waitOldest(); err != nil {
			return err
		}
	}
	p.pending = append(p.pending, p.c.Publish(p.topic, 1, false, payload))
	return nil
}

func (p *mqttPublisher) waitOldest() error {
	tok := p.pending[0]
	p.pending = p.pending[1:]
	if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
		return fmt.Errorf("publish to %s: %v", p.topic, tokenErr(tok))
	}
	return nil
}

// flush waits for every publish still awaiting its PUBACK.
func (p *mqttPublisher) flush() error {
	for len(p.pending) > 0 {
		if err := p.waitOldest(); err != nil {
			return err
		}
	}
	return nil
}

// feed runs a Generator in the background and returns a channel that yields its
// result once it is done and flush (may be nil) returned. The context bounds it.
func feed(ctx context.Context, g *seqload.Generator, flush func() error) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := g.Run(ctx)
		if err == nil && flush != nil {
			err = flush()
		}
		done <- err
	}()
	return done
}

// feedMQTT publishes count JSON sequence payloads to topic on the broker at addr at
// rate per second (0: a burst), counting them in ctr once the broker took them.
func feedMQTT(ctx context.Context, t *testing.T, addr, topic string, count uint64, rate float64, ctr *seqload.Counter) <-chan error {
	t.Helper()
	p := newMQTTPublisher(t, addr, topic)
	return feed(ctx, &seqload.Generator{Format: seqload.JSON, Size: 64, Count: count, Rate: rate, Publish: p.Publish, Counter: ctr}, p.flush)
}

// waitFeed waits for a feeder's result, failing the test on an error or after d.
func waitFeed(t *testing.T, done <-chan error, d time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("feeding values: %v", err)
		}
	case <-time.After(d):
		t.Fatalf("feeding values: not done within %v", d)
	}
}

// waitArrived waits until every value sent arrived, or nothing new arrived for
// quiet; it returns the counts.
func waitArrived(t *testing.T, ctr *seqload.Counter, d, quiet time.Duration) seqload.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ctr.Wait(ctx, ctr.Report().Sent, quiet)
	return ctr.Report()
}

// logCounts prints a Counter's counts in the suite's one-line form.
func logCounts(t *testing.T, what string, r seqload.Report) {
	t.Helper()
	t.Logf("%s: sent %d, arrived %d, lost %d, duplicated %d, out of order %d (invalid %d; latency p50 %v, p99 %v, max %v)",
		what, r.Sent, r.Arrived, r.Lost, r.Duplicates, r.Reordered, r.Invalid,
		r.Latency.P50.Round(time.Millisecond), r.Latency.P99.Round(time.Millisecond), r.Latency.Max.Round(time.Millisecond))
}

// checkCounts fails the test unless every value sent arrived, nothing undecodable
// arrived, and there are at most maxDups duplicates and maxReordered values out of
// order.
func checkCounts(t *testing.T, what string, r seqload.Report, maxDups, maxReordered uint64) {
	t.Helper()
	logCounts(t, what, r)
	if r.Sent == 0 {
		t.Errorf("%s: nothing was sent", what)
	}
	if r.Lost != 0 {
		t.Errorf("%s: %d of %d values lost", what, r.Lost, r.Sent)
	}
	if r.Invalid != 0 || r.OutOfRange != 0 {
		t.Errorf("%s: %d payloads did not decode, %d out of range", what, r.Invalid, r.OutOfRange)
	}
	if r.Duplicates > maxDups {
		t.Errorf("%s: %d duplicates, want at most %d (the values the link sent again)", what, r.Duplicates, maxDups)
	}
	if r.Reordered > maxReordered {
		t.Errorf("%s: %d values out of order, want at most %d", what, r.Reordered, maxReordered)
	}
}
