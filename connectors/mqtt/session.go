package mqtt

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// run is the session loop (the Reconnector): connect, subscribe every route, publish
// the birth message, wait for the connection to drop, and start again with
// exponential backoff and jitter, until the instance closes. A broker that is absent
// or refuses us is retried forever; the reason shows in Health and in the error
// Publish returns.
func (c *Connector) run(context.Context) {
	defer close(c.done)
	defer c.disconnect()
	defer c.firstOnce.Do(func() { close(c.first) })
	c.rc.Run(c.ctx)
}

// session is one connection, from the attempt to its loss.
func (c *Connector) session(ctx context.Context) error {
	if err := c.connect(ctx); err != nil {
		c.firstOnce.Do(func() { close(c.first) })
		return err
	}
	c.mu.Lock()
	c.down = make(chan struct{})
	c.mu.Unlock()
	defer c.markDown() // also when paho reported the loss before down was made
	c.rc.MarkUp("client_id", c.s.clientID)
	c.subscribe(ctx)
	c.publishStatus(c.s.statusOnline)
	c.firstOnce.Do(func() { close(c.first) })
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-c.lost:
			if !c.client.IsConnectionOpen() { // ignore a late signal about an older connection
				return fmt.Errorf("connection lost: %w", err)
			}
		}
	}
}

// connect makes one connection attempt (every broker in turn) and returns why it failed.
func (c *Connector) connect(ctx context.Context) error {
	tok := c.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		// Let the attempt finish (it is bounded by connect_timeout) so disconnect sees a settled state.
		tok.WaitTimeout(c.s.connectTimeout*time.Duration(len(c.s.brokers)) + time.Second)
		return ctx.Err()
	}
	err := tok.Error()
	if err == nil {
		return nil
	}
	ct, _ := tok.(*paho.ConnectToken)
	if ct != nil {
		switch ct.ReturnCode() {
		case packets.ErrRefusedBadUsernameOrPassword, packets.ErrRefusedNotAuthorised:
			return fmt.Errorf("broker %s refused the login of user %q: %w (check username and password)", c.s.brokerNames(), c.s.username, err)
		case packets.ErrRefusedIDRejected:
			return fmt.Errorf("broker %s rejected client id %q: %w", c.s.brokerNames(), c.s.clientID, err)
		}
	}
	return fmt.Errorf("broker %s: %w", c.s.brokerNames(), err)
}

// subscribe subscribes every route filter with its QoS, in one SUBSCRIBE packet.
// The broker sends retained messages right after, which seed the records.
func (c *Connector) subscribe(ctx context.Context) {
	c.mu.Lock()
	c.subErr = nil
	c.mu.Unlock()
	if len(c.filters) == 0 {
		return
	}
	tok := c.client.SubscribeMultiple(c.filters, nil)
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return
	case <-time.After(c.s.publishTimeout):
		c.setSubErr(fmt.Errorf("broker %s did not answer SUBSCRIBE within %v", c.s.brokerNames(), c.s.publishTimeout))
		return
	}
	if err := tok.Error(); err != nil {
		c.setSubErr(fmt.Errorf("subscribe on broker %s: %w", c.s.brokerNames(), err))
		return
	}
	st, _ := tok.(*paho.SubscribeToken)
	if st == nil {
		return
	}
	var refused []string
	for filter, code := range st.Result() {
		if code > 2 {
			refused = append(refused, filter)
		}
	}
	if len(refused) > 0 {
		sort.Strings(refused)
		c.setSubErr(fmt.Errorf("broker %s refused the subscription to %q (not authorised or invalid filter)", c.s.brokerNames(), refused))
		return
	}
	c.log.Debug("subscribed", "filters", len(c.filters))
}

// publishStatus publishes the birth (or, on shutdown, offline) message when status_topic is set.
func (c *Connector) publishStatus(payload string) {
	if c.s.statusTopic == "" {
		return
	}
	tok := c.client.Publish(c.s.statusTopic, c.s.statusQoS, c.s.statusRetain, payload)
	if !tok.WaitTimeout(c.s.connectTimeout) {
		c.log.Warn("status message not acknowledged in time", "topic", c.s.statusTopic, "payload", payload)
	} else if err := tok.Error(); err != nil {
		c.log.Warn("cannot publish status message", "topic", c.s.statusTopic, "payload", payload, "error", err)
	}
}

// disconnect ends the session cleanly: offline status, DISCONNECT (so the broker
// does not publish the last will).
func (c *Connector) disconnect() {
	if c.client.IsConnectionOpen() {
		c.publishStatus(c.s.statusOffline)
		c.client.Disconnect(250)
	}
	c.markDown()
	c.rc.MarkDown(errors.New("connector closed"))
}

// onConnectionLost is paho's connection-lost handler. By the time paho calls it, the
// old connection's message handling has stopped, so its pending acknowledgements
// are dropped before the session loop reconnects.
func (c *Connector) onConnectionLost(_ paho.Client, err error) {
	if err == nil {
		err = errors.New("connection closed")
	}
	c.markDown()
	c.rc.MarkDown(fmt.Errorf("connection lost: %w", err))
	c.inbound.newConnection()
	select {
	case c.lost <- err:
	default:
	}
}

func (c *Connector) setSubErr(err error) {
	c.log.Error("subscription failed", "error", err)
	c.mu.Lock()
	c.subErr = err
	c.mu.Unlock()
}

// markDown closes the current connection's down channel: publishes still awaiting
// its acknowledgements fail at once.
func (c *Connector) markDown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !isClosed(c.down) {
		close(c.down)
	}
}

// connDown returns the channel closed when the current connection is lost (already
// closed while offline).
func (c *Connector) connDown() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.down
}

// lostUnder is the error of a publish whose connection was lost before the broker
// acknowledged it. paho may have stored the message to send it again after a
// reconnect (its token then completes only then, or never with a clean session), so
// it is reported failed at once: the host sends it again (at least once).
func (c *Connector) lostUnder(topic string) error {
	return sdk.Errorf(sdk.KindConnectionFailed, "mqtt topic %q: connection to broker %s lost before the broker acknowledged", topic, c.s.brokerNames())
}

func tokenDone(t paho.Token) bool { return isClosed(t.Done()) }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func closedChan() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}
