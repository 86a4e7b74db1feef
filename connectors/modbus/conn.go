package modbus

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	mb "github.com/simonvetter/modbus"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// lostAfterTimeouts is how many requests in a row may time out before the connection
// counts as lost and is opened again: a TCP peer that vanished without a reset, or a
// serial line that went dead, is noticed this way.
const lostAfterTimeouts = 3

// libLogOptions sends simonvetter/modbus's own log lines to the instance's log at
// debug level.
var libLogOptions = &hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}

// conn is one connector instance: one client connection, kept up by a Reconnector,
// carrying one request at a time (Modbus TCP servers and serial lines both answer
// requests in order, and simonvetter/modbus waits for each answer).
type conn struct {
	b  *sdk.BuildContext
	s  settings
	rc *sdk.Reconnector

	mu       sync.Mutex       // one request at a time; guards client and timeouts
	client   *mb.ModbusClient // nil while down
	timeouts int              // requests in a row that timed out
	lost     chan error       // a request found the connection broken

	closed atomic.Bool
	stats  stats
}

// stats count the instance's work for its metrics.
type stats struct {
	requests atomic.Uint64 // requests sent
	failed   atomic.Uint64 // requests that failed (exception, timeout, I/O)
	polls    atomic.Uint64 // poll cycles run
	written  atomic.Uint64 // link_to values written
}

func newConn(b *sdk.BuildContext, s settings) *conn {
	c := &conn{b: b, s: s, lost: make(chan error, 1)}
	c.rc = &sdk.Reconnector{Name: s.name, Session: c.session, Backoff: s.backoff, Logger: b.Logger}
	return c
}

// session opens the connection and holds it until a request finds it broken or the
// instance closes.
func (c *conn) session(ctx context.Context) error {
	if c.closed.Load() {
		return sdk.Errorf(sdk.KindClosed, "modbus connector %q is closed", c.b.Instance)
	}
	cl, err := mb.NewClient(&mb.ClientConfiguration{
		URL: c.s.clientURL, Speed: c.s.baud, DataBits: c.s.dataBits, Parity: c.s.parity, StopBits: c.s.stopBits,
		Timeout: c.s.timeout,
		// The library logs to stdout without a logger; stdout carries the plugin handshake.
		Logger: log.New(c.b.Logger.StandardWriter(libLogOptions), "", 0),
	})
	if err != nil {
		return err
	}
	if err := cl.Open(); err != nil {
		return err
	}
	c.mu.Lock()
	c.client, c.timeouts = cl, 0
	select {
	case <-c.lost: // a loss reported against the previous connection
	default:
	}
	c.mu.Unlock()
	c.rc.MarkUp()
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case err = <-c.lost:
	}
	c.rc.MarkDown(err)
	c.mu.Lock() // waits for the request in flight
	c.client = nil
	c.mu.Unlock()
	_ = cl.Close()
	return err
}

// do runs one request for unit on the connection, classifying its error. what names
// the request in errors ("read holding/100:2 (unit 1)").
func (c *conn) do(ctx context.Context, unit uint8, what string, req func(*mb.ModbusClient) error) error {
	if c.closed.Load() {
		return sdk.Errorf(sdk.KindClosed, "modbus connector %q is closed", c.b.Instance)
	}
	if !c.rc.Connected() {
		return c.notConnected()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		return c.notConnected()
	}
	if err := ctx.Err(); err != nil {
		return sdk.Errorf(sdk.KindTimeout, "%s: %s: %w", c.s.name, what, err)
	}
	c.stats.requests.Add(1)
	_ = c.client.SetUnitId(unit)
	err := req(c.client)
	if err == nil {
		c.timeouts = 0
		return nil
	}
	c.stats.failed.Add(1)
	kind, broken := classify(err)
	if kind == sdk.KindTimeout {
		c.timeouts++
		broken = c.timeouts >= lostAfterTimeouts
	} else {
		c.timeouts = 0
	}
	if broken {
		select {
		case c.lost <- fmt.Errorf("%s: %w", what, err):
		default:
		}
	}
	return sdk.Errorf(kind, "%s: %s: %w", c.s.name, what, err)
}

// notConnected says why there is no connection (KindConnectionFailed).
func (c *conn) notConnected() error {
	if err := c.rc.Health(); err != nil {
		return err
	}
	return sdk.Errorf(sdk.KindConnectionFailed, "%s: not connected", c.s.name)
}

// classify maps a request's error to an error kind, and says whether the connection
// is broken. Exceptions the device answers leave the connection as it is.
func classify(err error) (kind sdk.ErrorKind, broken bool) {
	switch {
	case errors.Is(err, mb.ErrIllegalDataAddress), errors.Is(err, mb.ErrIllegalFunction):
		// The register, coil or function does not exist there: never works.
		return sdk.KindInvalidDestination, false
	case errors.Is(err, mb.ErrIllegalDataValue):
		return sdk.KindRejected, false
	case errors.Is(err, mb.ErrGWTargetFailedToRespond), errors.Is(err, mb.ErrGWPathUnavailable):
		// The gateway answered; the device behind it did not.
		return sdk.KindConnectionFailed, false
	case errors.Is(err, mb.ErrServerDeviceBusy), errors.Is(err, mb.ErrAcknowledge):
		return sdk.KindBufferFull, false
	case errors.Is(err, mb.ErrServerDeviceFailure), errors.Is(err, mb.ErrMemoryParityError):
		return sdk.KindConnectionFailed, false
	case errors.Is(err, mb.ErrRequestTimedOut):
		return sdk.KindTimeout, false
	case errors.Is(err, mb.ErrBadCRC), errors.Is(err, mb.ErrShortFrame), errors.Is(err, mb.ErrBadUnitId):
		// A garbled frame on a serial line: the line itself is still there.
		return sdk.KindConnectionFailed, false
	case strings.HasPrefix(err.Error(), "unknown exception code"):
		return sdk.KindConnectionFailed, false
	}
	// I/O errors (EOF, reset, broken pipe, EIO) and protocol errors: open again.
	return sdk.KindConnectionFailed, true
}

// Health is nil while connected.
func (c *conn) Health(context.Context) error { return c.rc.Health() }

// Close stops the connection; the Reconnector's session ends with the instance's
// context, which the SDK cancels after Close.
func (c *conn) Close(context.Context) error {
	c.closed.Store(true)
	select {
	case c.lost <- sdk.Errorf(sdk.KindClosed, "closed"):
	default:
	}
	return nil
}

// Metrics reports the instance's counters.
func (c *conn) Metrics() []sdk.Metric {
	rs := c.rc.Stats()
	return []sdk.Metric{
		{Name: "modbus_requests_total", Help: "Modbus requests sent", Kind: sdk.MetricCounter, Value: float64(c.stats.requests.Load())},
		{Name: "modbus_request_failures_total", Help: "Modbus requests that failed: exception, timeout or I/O error", Kind: sdk.MetricCounter, Value: float64(c.stats.failed.Load())},
		{Name: "modbus_polls_total", Help: "poll cycles of link_from links", Kind: sdk.MetricCounter, Value: float64(c.stats.polls.Load())},
		{Name: "modbus_written_total", Help: "link_to values written", Kind: sdk.MetricCounter, Value: float64(c.stats.written.Load())},
		{Name: "modbus_connects_total", Help: "connections opened", Kind: sdk.MetricCounter, Value: float64(rs.Connects)},
	}
}
