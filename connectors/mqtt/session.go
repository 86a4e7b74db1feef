package mqtt

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// run is the session loop: connect, subscribe every route, publish the birth
// message, wait for the connection to drop, and start again with exponential
// backoff and jitter, until the instance closes. A broker that is absent or refuses
// us is retried forever; the reason shows in Health and in the error Publish returns.
func (c *Connector) run(context.Context) {
	defer close(c.done)
	defer c.disconnect()
	ctx := c.ctx
	failures := 0
	var firstOnce sync.Once
	defer firstOnce.Do(func() { close(c.first) })
	for ctx.Err() == nil {
		if err := c.connect(ctx); err != nil {
			firstOnce.Do(func() { close(c.first) })
			if ctx.Err() != nil {
				return // closing: not a failure to report
			}
			failures++
			c.stats.connectFailures.Add(1)
			if c.setDown(err) || failures == 1 {
				c.log.Warn("cannot connect to MQTT broker; retrying", "broker", c.s.brokerNames(), "error", err)
			} else {
				c.log.Debug("MQTT connect attempt failed", "broker", c.s.brokerNames(), "attempt", failures, "error", err)
			}
			if !sleep(ctx, backoff(failures-1, c.s.reconnectMin, c.s.reconnectMax)) {
				return
			}
			continue
		}
		up := time.Now()
		c.stats.connects.Add(1)
		c.setUp()
		c.log.Info("connected to MQTT broker", "broker", c.s.brokerNames(), "client_id", c.s.clientID, "after_attempts", failures+1)
		failures = 0
		c.subscribe(ctx)
		c.publishStatus(c.s.statusOnline)
		firstOnce.Do(func() { close(c.first) })

		var reason error
		for reason == nil {
			select {
			case <-ctx.Done():
				return
			case err := <-c.lost:
				if !c.client.IsConnectionOpen() { // ignore a late signal about an older connection
					reason = err
				}
			}
		}
		c.stats.connectionLosses.Add(1)
		c.setDown(fmt.Errorf("connection lost: %w", reason))
		c.log.Warn("lost connection to MQTT broker; reconnecting", "broker", c.s.brokerNames(), "error", reason, "was_up", time.Since(up).Round(time.Millisecond))
		if time.Since(up) < time.Second {
			failures++ // a connection that drops at once counts as a failure, so flapping backs off
		}
		if !sleep(ctx, backoff(failures, c.s.reconnectMin, c.s.reconnectMax)) {
			return
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
	c.online.Store(false)
	c.setDown(errors.New("connector closed"))
}

// onConnectionLost is paho's connection-lost handler. By the time paho calls it, the
// old connection's message handling has stopped, so its pending acknowledgements
// are dropped before the session loop reconnects.
func (c *Connector) onConnectionLost(_ paho.Client, err error) {
	c.online.Store(false)
	c.markDown()
	c.inbound.newConnection()
	if err == nil {
		err = errors.New("connection closed")
	}
	select {
	case c.lost <- err:
	default:
	}
}

func (c *Connector) setUp() {
	c.mu.Lock()
	c.lastErr = nil
	c.down = make(chan struct{})
	c.mu.Unlock()
	c.online.Store(true)
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

// setDown records why the client is not connected; it reports whether the reason changed.
func (c *Connector) setDown(err error) bool {
	c.online.Store(false)
	c.markDown()
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := c.lastErr == nil || c.lastErr.Error() != err.Error()
	if c.lastErr == nil {
		c.since = time.Now()
	}
	c.lastErr = err
	return changed
}

func (c *Connector) setSubErr(err error) {
	c.log.Error("subscription failed", "error", err)
	c.mu.Lock()
	c.subErr = err
	c.mu.Unlock()
}

// sleep waits d or until ctx ends; it reports whether the full time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
