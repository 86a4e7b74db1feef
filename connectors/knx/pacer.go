package knx

import (
	"context"
	"time"
)

// pacer spaces sends at least interval apart: the KNX bus rate limit for routing.
// It is not safe for concurrent use; the routing transport serialises sends.
type pacer struct {
	interval time.Duration
	next     time.Time
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
}

// newPacer allows perSecond sends a second; 0 means no limit.
func newPacer(perSecond int) *pacer {
	p := &pacer{now: time.Now, sleep: sleepCtx}
	if perSecond > 0 {
		p.interval = time.Second / time.Duration(perSecond)
	}
	return p
}

// wait blocks until the next send is allowed, or ctx ends.
func (p *pacer) wait(ctx context.Context) error {
	if p.interval == 0 {
		return nil
	}
	now := p.now()
	if p.next.After(now) {
		if err := p.sleep(ctx, p.next.Sub(now)); err != nil {
			return err
		}
		now = p.next
	}
	p.next = now.Add(p.interval)
	return nil
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
