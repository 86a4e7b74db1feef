package connect

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// rateLog writes at most one line per link and kind per second, adding how many
// times the event happened since the last line, so a flood is visible but not a
// flood in the log.
type rateLog struct {
	log hclog.Logger
	mu  sync.Mutex
	at  map[rateKey]*rateEntry
}

type rateKey struct {
	link int
	kind string
}

type rateEntry struct {
	last    time.Time
	skipped int
}

func newRateLog(log hclog.Logger) *rateLog { return &rateLog{log: log, at: map[rateKey]*rateEntry{}} }

// warn logs msg at WARN unless the same link and kind logged within the last second.
func (r *rateLog) warn(link int, kind, msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	e := r.at[rateKey{link, kind}]
	if e == nil {
		e = &rateEntry{}
		r.at[rateKey{link, kind}] = e
	}
	if now.Sub(e.last) < time.Second {
		e.skipped++
		r.mu.Unlock()
		return
	}
	skipped := e.skipped
	e.last, e.skipped = now, 0
	r.mu.Unlock()
	if skipped > 0 {
		args = append(args, "more_since_last_line", skipped)
	}
	r.log.Warn(msg, args...)
}
