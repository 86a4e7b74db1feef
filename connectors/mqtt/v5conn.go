package mqtt

import (
	"errors"
	"net"
	"sync"
)

// v5Conn is the network connection of one MQTT 5 session. It is a sync.Locker:
// paho.golang writes a packet in several Writes and holds the lock of a connection
// that has one for all of them, so packets written by different goroutines (acks,
// pings, the links' publishes) never interleave. The first failed read, or Close,
// marks it dead: publishes waiting on it fail at once, and the session loop
// reconnects.
type v5Conn struct {
	net.Conn
	sync.Mutex

	dead  chan struct{}
	once  sync.Once
	cause error // why it died; read after dead is closed
}

func newV5Conn(c net.Conn) *v5Conn { return &v5Conn{Conn: c, dead: make(chan struct{})} }

// Read reads from the connection; an error marks it dead.
func (c *v5Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.die(err)
	}
	return n, err
}

// Close marks the connection dead and closes it.
func (c *v5Conn) Close() error {
	c.die(errors.New("connection closed"))
	return c.Conn.Close()
}

func (c *v5Conn) die(err error) {
	c.once.Do(func() {
		c.cause = err
		close(c.dead)
	})
}
