package pluginwire

import "time"

// Pacer decides when a data-stream writer sends its next frame. While frames follow
// each other closely (the previous one went out less than the linger ago) it waits
// until the linger has passed since that frame, so what became ready meanwhile (more
// messages, acknowledgements, results) shares one frame and one write; on an idle
// stream the frame goes out at once. A zero linger never waits.
type Pacer struct {
	linger time.Duration
	last   time.Time
	timer  *time.Timer
}

// NewPacer returns a pacer with the given linger.
func NewPacer(linger time.Duration) *Pacer { return &Pacer{linger: linger} }

// Wait waits as the pacing asks, or until done is closed.
func (p *Pacer) Wait(done <-chan struct{}) {
	if p.linger <= 0 || p.last.IsZero() {
		return
	}
	d := p.linger - time.Since(p.last)
	if d <= 0 {
		return
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
	case <-done:
		p.timer.Stop()
	}
}

// Sent records that a frame went out now.
func (p *Pacer) Sent() { p.last = time.Now() }
