package seqload

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Generator sends Count payloads with consecutive sequence numbers from FirstSeq,
// each stamped with the time it was handed to Publish.
type Generator struct {
	// Format and Size shape each payload (see Append).
	Format Format
	Size   int
	// Count bounds the number of payloads; it must be positive.
	Count uint64
	// FirstSeq is the sequence number of the first payload.
	FirstSeq uint64
	// Rate is the pace in payloads per second; 0 sends as fast as Publish allows
	// (a burst). A paced Generator that fell behind catches up without sleeping, so
	// the average rate holds while short bursts may form.
	Rate float64
	// Duration, when positive, stops the Generator after that long even if fewer than
	// Count payloads were sent; that is not an error.
	Duration time.Duration
	// Publish sends one payload. The payload is freshly allocated: Publish may keep it.
	Publish func(seq uint64, payload []byte) error
	// Counter, when set, has AddSent called for every payload Publish accepted.
	Counter *Counter
}

// Run sends the payloads and returns how many Publish accepted. It stops at the
// first Publish error (returned, naming the sequence number), when ctx ends (ctx's
// error), when Duration has passed, or after Count payloads.
func (g *Generator) Run(ctx context.Context) (uint64, error) {
	if g.Count == 0 || g.Publish == nil {
		return 0, errors.New("seqload: generator needs a positive Count and a Publish function")
	}
	if g.Rate < 0 {
		return 0, fmt.Errorf("seqload: generator rate %v is negative", g.Rate)
	}
	start := time.Now()
	var stop time.Time
	if g.Duration > 0 {
		stop = start.Add(g.Duration)
	}
	var sleeper *time.Timer
	defer func() {
		if sleeper != nil {
			sleeper.Stop()
		}
	}()
	var sent uint64
	for sent < g.Count {
		if err := ctx.Err(); err != nil {
			return sent, err
		}
		now := time.Now()
		if !stop.IsZero() && !now.Before(stop) {
			return sent, nil
		}
		if g.Rate > 0 {
			due := start.Add(time.Duration(float64(sent) / g.Rate * float64(time.Second)))
			if wait := due.Sub(now); wait > 0 {
				if sleeper == nil {
					sleeper = time.NewTimer(wait)
				} else {
					sleeper.Reset(wait)
				}
				select {
				case <-ctx.Done():
					return sent, ctx.Err()
				case <-sleeper.C:
				}
				now = time.Now()
			}
		}
		seq := g.FirstSeq + sent
		p := Append(make([]byte, 0, max(g.Size, 48)), g.Format, seq, now.UnixNano(), g.Size)
		if err := g.Publish(seq, p); err != nil {
			return sent, fmt.Errorf("seqload: publish of sequence number %d: %w", seq, err)
		}
		sent++
		if g.Counter != nil {
			g.Counter.AddSent(1)
		}
	}
	return sent, nil
}
