package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
)

// StatusKey is the built-in record that holds the hub's status (Status as JSON) while
// the HTTP listener runs: the dashboard follows it to get link and connector states
// pushed, and `aimdb record watch aimdb.status` shows it too.
const StatusKey = "aimdb.status"

// statusEvery is how often the status record is refreshed (only changes are written).
const statusEvery = time.Second

// unwrittenEvery is how often at most a status not written is logged.
const unwrittenEvery = 10 * time.Second

// Status is the hub at a glance: `aimdb status -o json` prints it and the record
// aimdb.status holds it.
type Status struct {
	Records    []RecordStatus            `json:"records"`
	Links      []connect.LinkStatus      `json:"links"`
	Connectors []connect.ConnectorStatus `json:"connectors"`
}

// RecordStatus is one record's counters in a Status.
type RecordStatus struct {
	Key    string `json:"key"`
	Buffer string `json:"buffer"`
	// Produced, Dropped and Refused count values since start (host.RecordStats).
	Produced uint64 `json:"produced"`
	Dropped  uint64 `json:"dropped"`
	Refused  uint64 `json:"refused"`
	// Occupancy is how many values wait for the record's slowest consumer.
	Occupancy int `json:"occupancy"`
	// Rate is values produced per second since the previous snapshot (SetRates).
	Rate float64 `json:"rate"`
}

// SetRates sets every record's Rate from prev, a snapshot taken elapsed earlier.
func (st *Status) SetRates(prev Status, elapsed time.Duration) {
	if elapsed <= 0 {
		return
	}
	before := make(map[string]uint64, len(prev.Records))
	for _, r := range prev.Records {
		before[r.Key] = r.Produced
	}
	for i, r := range st.Records {
		if p, ok := before[r.Key]; ok && r.Produced >= p {
			st.Records[i].Rate = math.Round(float64(r.Produced-p)/elapsed.Seconds()*10) / 10
		}
	}
}

// Snapshot reads db's status now.
func Snapshot(db *host.DB) Status {
	st := Status{Records: []RecordStatus{}, Links: []connect.LinkStatus{}, Connectors: []connect.ConnectorStatus{}}
	for _, r := range db.Records() {
		if r.Key == StatusKey {
			continue // its own counter would make every snapshot differ from the last
		}
		st.Records = append(st.Records, RecordStatus{Key: r.Key, Buffer: r.Buffer, Produced: r.Stats.Produced,
			Dropped: r.Stats.Dropped, Refused: r.Stats.Refused, Occupancy: r.Stats.Occupancy})
	}
	if svc := connect.Of(db); svc != nil {
		st.Links = append(st.Links, svc.Links()...)
		st.Connectors = append(st.Connectors, svc.Connectors()...)
	}
	return st
}

// WithStatus declares the record aimdb.status (single_latest, not writable) and the
// service that writes Snapshot into it: at every read of the record (get, or the start
// of a subscription), and every second while it has a subscriber, when it changed.
// Nobody reading it costs nothing.
func WithStatus() host.Option {
	return func(b *host.Builder) {
		s := &statusService{}
		host.Configure(b, StatusKey, func(r *host.Registrar[json.RawMessage]) { r.SingleLatest().OnRead(s.render) })
		b.AddService("aimdb-status", s)
	}
}

// statusService writes the status record.
type statusService struct {
	db     *host.DB
	log    hclog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	p         *host.Producer[json.RawMessage] // nil until Start
	last      []byte                          // the value written last
	prev      Status                          // the snapshot rates are measured from
	prevAt    time.Time
	unwritten uint64    // statuses the record refused
	loggedAt  time.Time // when unwritten was last logged
}

// Validate has nothing to check.
func (*statusService) Validate(*host.DB) []error { return nil }

// Start begins writing the status record while it has subscribers.
func (s *statusService) Start(_ context.Context, db *host.DB) error {
	p, err := host.ProducerOf[json.RawMessage](db, StatusKey)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.db, s.p, s.log = db, p, db.Logger()
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Go(func() {
		t := time.NewTicker(statusEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			if info, _ := db.Record(StatusKey); info.Stats.Consumers > 0 {
				s.render()
			}
		}
	})
	return nil
}

// render writes the status now if it changed.
//
// The record refuses a status only once the hub is stopping: Run closes every
// record's buffer before it stops the services, so a read through the control socket
// or HTTP during the drain, or a tick for a subscriber that has not noticed yet,
// renders into a closed record. No subscriber misses that status (each got the last
// one written, then ErrClosed), but a read returns the last status written instead of
// a fresh one; so the refusal is counted and logged (notWritten). So would be a
// status that does not encode as JSON (a connector metric that is NaN or infinite
// does: connect.Metrics encodes it as null).
func (s *statusService) render() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return // not started: a read finds no value yet
	}
	st, now := Snapshot(s.db), time.Now()
	if !s.prevAt.IsZero() {
		st.SetRates(s.prev, now.Sub(s.prevAt))
	}
	s.prev, s.prevAt = st, now
	b, err := json.Marshal(st)
	if err != nil {
		s.notWritten(now, err)
		return
	}
	if bytes.Equal(b, s.last) {
		return
	}
	if err := s.p.Produce(b); err != nil {
		s.notWritten(now, err)
		return
	}
	s.last = b
}

// notWritten counts a status not written and logs it, the first at once, then at
// most every unwrittenEvery. s.mu is held.
func (s *statusService) notWritten(now time.Time, err error) {
	s.unwritten++
	if now.Sub(s.loggedAt) >= unwrittenEvery {
		s.log.Warn("status not written: a read returns the last status written", "record", StatusKey,
			"not_written", s.unwritten, "error", err)
		s.loggedAt = now
	}
}

// Stop stops writing.
func (s *statusService) Stop(context.Context) error {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	return nil
}
