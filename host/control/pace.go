package control

import "time"

// pacer spaces one connection's events to Options.MaxEventRate a second, in bursts
// of up to a second's worth. It belongs to the connection's pump goroutine alone.
type pacer struct {
	tokens float64
	last   time.Time
}

// pace waits until the connection may send another event (at once without a limit,
// or when the connection closed meanwhile). Values wait in the records meanwhile,
// where a watcher that falls behind skips and counts them, as for a slow client.
func (c *conn) pace() {
	rate := float64(c.srv.opts.MaxEventRate)
	if rate <= 0 {
		return
	}
	p := &c.pacer
	now := time.Now()
	if p.last.IsZero() {
		p.tokens = rate
	} else {
		p.tokens = min(rate, p.tokens+now.Sub(p.last).Seconds()*rate)
	}
	p.last = now
	if p.tokens >= 1 {
		p.tokens--
		return
	}
	// Out of tokens: wait for a twentieth of a second's worth, so a paced connection
	// wakes at most 20 times a second.
	want := max(1, rate/20)
	t := time.NewTimer(time.Duration((want - p.tokens) / rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.done:
	}
	p.tokens, p.last = want-1, time.Now()
}
