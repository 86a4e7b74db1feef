package connect

import (
	"context"
	"sort"
	"time"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// monitorInterval is how often the monitor checks states and health.
const monitorInterval = time.Second

// ErrorStatus is the last error of a link.
type ErrorStatus struct {
	Kind string    `json:"kind"`
	Text string    `json:"text"`
	Time time.Time `json:"time"`
}

// LinkStatus is one link's state and counters.
type LinkStatus struct {
	ID        int       `json:"id"`
	Record    string    `json:"record"`
	URL       string    `json:"url"`
	Direction string    `json:"direction"`
	Instance  string    `json:"instance"`
	Delivery  string    `json:"delivery,omitempty"` // link_to: at_least_once or best_effort
	Outbox    string    `json:"outbox,omitempty"`   // link_to: memory or disk
	State     LinkState `json:"state"`
	// Stats are the link's counters.
	Stats host.LinkStats `json:"counters"`
	// FailedByKind splits Stats.Failed by error kind (link_to; kinds as sdk.ErrorKind
	// names them), omitted while nothing failed.
	FailedByKind map[string]uint64 `json:"failed_by_kind,omitempty"`
	// InFlight counts link_to values read and not yet confirmed or given up.
	InFlight int `json:"in_flight"`
	// Backlog counts values waiting for the link in its record (link_to).
	Backlog uint64 `json:"backlog"`
	// Held counts link_from messages waiting for room in the record.
	Held int `json:"held"`
	// OutboxMessages and OutboxBytes are the depth of a disk outbox.
	OutboxMessages int   `json:"outbox_messages"`
	OutboxBytes    int64 `json:"outbox_bytes"`
	// LastError is the last failure; LastSuccess the last confirmed value (link_to).
	LastError   *ErrorStatus `json:"last_error,omitempty"`
	LastSuccess time.Time    `json:"last_success,omitzero"`
}

// ConnectorStatus is one connector instance's state.
type ConnectorStatus struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Plugin is the plugin executable, "" for an in-process kind.
	Plugin string `json:"plugin,omitempty"`
	Pid    int    `json:"pid,omitempty"`
	// State is "connected", "unhealthy", "restarting" (its plugin is down) or
	// "crash loop" (its plugin keeps dying; restarts go on with backoff).
	State string `json:"state"`
	// Health says what is wrong, "" when connected.
	Health string `json:"health,omitempty"`
	// Restarts counts its plugin's restarts.
	Restarts int `json:"restarts"`
	// Since is when State last changed.
	Since time.Time `json:"since"`
	// Metrics are the numbers the instance keeps itself (sdk.MetricsReporter), as of
	// its last health check (every second).
	Metrics Metrics `json:"metrics,omitempty"`
}

// connectorState is what the monitor last saw of an instance.
type connectorState struct {
	state, health string
	since         time.Time
	metrics       []sdk.Metric
}

// Links reports every link of the connector layer, in link id order.
func (s *Service) Links() []LinkStatus {
	s.mu.Lock()
	pumps := append([]*pump(nil), s.pumps...)
	inbound := append([]*inboundLink(nil), s.inboundList...)
	s.mu.Unlock()
	var out []LinkStatus
	for _, p := range pumps {
		out = append(out, p.status())
	}
	for _, il := range inbound {
		out = append(out, il.status())
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// Connectors reports every running connector instance.
func (s *Service) Connectors() []ConnectorStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ConnectorStatus
	for _, r := range s.running {
		st := ConnectorStatus{Name: r.plan.decl.Name, Kind: r.plan.decl.Plugin}
		if cs := s.status[r.plan.decl.Name]; cs != nil {
			st.State, st.Health, st.Since, st.Metrics = cs.state, cs.health, cs.since, cs.metrics
		}
		if r.plan.proc != nil {
			ps := r.plan.proc.State()
			st.Plugin, st.Pid, st.Restarts = r.plan.proc.Info().Path, ps.Pid, ps.Restarts
		}
		if st.State == "" {
			st.State = "connected"
		}
		out = append(out, st)
	}
	return out
}

// status computes a link_to's state from its pump.
func (p *pump) status() LinkStatus {
	st := LinkStatus{ID: p.info.ID, Record: p.info.Record, URL: p.info.URL.String(), Direction: p.info.Direction.String(),
		Instance: p.inst, Delivery: p.pol.delivery, Outbox: p.pol.outbox, Backlog: p.src.backlog()}
	st.Stats, _ = p.db.LinkStats(p.info.ID)
	if ob, ok := p.src.(interface{ depth() (int, int64) }); ok {
		st.OutboxMessages, st.OutboxBytes = ob.depth()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, it := range p.items {
		if !it.done {
			st.InFlight++
		}
	}
	if p.lastErr != nil {
		st.LastError = &ErrorStatus{Kind: sdk.KindOf(p.lastErr).String(), Text: p.lastErr.Error(), Time: p.lastErrAt}
	}
	st.FailedByKind = p.failed.byName()
	st.LastSuccess = p.lastOK
	st.State = p.computeState(st)
	return st
}

// computeState: blocked when producers are refused because of this link; failing
// while values fail for good; retrying while a retry waits; ok otherwise. p.mu is held.
func (p *pump) computeState(st LinkStatus) LinkState {
	switch {
	case p.blocks(st):
		return StateBlocked
	case time.Now().Before(p.failingTill):
		return StateFailing
	case p.attempt > 0:
		return StateRetrying
	}
	return StateOK
}

// blocks reports whether the link holds its record full. p.mu is held.
func (p *pump) blocks(st LinkStatus) bool {
	if p.pol.delivery != AtLeastOnce && p.pol.outbox != OutboxDisk {
		return false
	}
	if p.pol.outbox == OutboxDisk {
		ob, ok := p.src.(interface{ full() bool })
		return ok && ob.full()
	}
	capacity := p.db.LinkCapacity(p.info.ID)
	return capacity > 1 && uint64(len(p.items))+st.Backlog >= uint64(capacity)
}

// noteState logs the link's state when it changed since the last line: on every
// outcome of a batch, and on the monitor's tick (which sees a record fill up).
func (p *pump) noteState() {
	st := p.status()
	p.logMu.Lock()
	prev, had := p.loggedAt, p.loggedSet
	changed := had && prev != st.State || !had && st.State != StateOK
	p.loggedAt, p.loggedSet = st.State, true
	p.logMu.Unlock()
	if changed {
		p.svc.logLinkState(st, prev, had)
	}
}

// logLinkState writes one line for a link state change.
func (s *Service) logLinkState(l LinkStatus, prev LinkState, had bool) {
	args := []any{"record", l.Record, "link", l.URL, "state", string(l.State)}
	if had {
		args = append(args, "was", string(prev))
	}
	if l.LastError != nil && l.State != StateOK {
		args = append(args, "error", l.LastError.Text)
	}
	if l.State == StateOK {
		s.log.Info("link state changed", args...)
	} else {
		s.log.Warn("link state changed", args...)
	}
}

// status reports a link_from's state: blocked while messages wait for room.
func (il *inboundLink) status() LinkStatus {
	st := LinkStatus{ID: il.info.ID, Record: il.info.Record, URL: il.info.URL.String(), Direction: il.info.Direction.String(),
		Instance: il.inst, Held: il.heldCount(), State: StateOK}
	st.Stats, _ = il.db.LinkStats(il.info.ID)
	if st.Held > 0 {
		st.State = StateBlocked
	}
	return st
}

// monitor logs every link and connector state change and every second's dropped
// values, until the service stops.
func (s *Service) monitor() {
	defer s.workers.Done()
	t := time.NewTicker(monitorInterval)
	defer t.Stop()
	lastLink := map[int]LinkState{} // link_from states; link_to pumps log their own
	lastDropped := map[int]uint64{}
	for {
		select {
		case <-t.C:
		case <-s.runCtx.Done():
			return
		}
		s.mu.Lock()
		pumps := append([]*pump(nil), s.pumps...)
		s.mu.Unlock()
		for _, p := range pumps {
			p.noteState()
		}
		for _, l := range s.Links() {
			if l.Direction == "link_from" {
				if prev, ok := lastLink[l.ID]; (ok && prev != l.State) || (!ok && l.State != StateOK) {
					s.logLinkState(l, prev, ok)
				}
				lastLink[l.ID] = l.State
			}
			if d := l.Stats.Dropped; d > lastDropped[l.ID] {
				s.log.Warn("link dropped values by design (newest value wins or best-effort delivery)",
					"record", l.Record, "link", l.URL, "delivery", l.Delivery, "dropped", d-lastDropped[l.ID], "dropped_total", d)
				lastDropped[l.ID] = d
			}
		}
		s.checkConnectors()
	}
}

// checkConnectors asks every instance for its health and logs changes.
func (s *Service) checkConnectors() {
	s.mu.Lock()
	running := append([]*running(nil), s.running...)
	s.mu.Unlock()
	for _, r := range running {
		state, health := "connected", ""
		if r.plan.proc != nil {
			if ps := r.plan.proc.State(); !ps.Up {
				state = "restarting"
				if ps.CrashLoop {
					state = "crash loop"
				}
				if ps.Err != nil {
					health = ps.Err.Error()
				}
			}
		}
		var metrics []sdk.Metric
		if state == "connected" {
			ctx, cancel := context.WithTimeout(s.runCtx, 2*time.Second)
			var err error
			if metrics, err = r.health(ctx); err != nil {
				state, health = "unhealthy", err.Error()
			}
			cancel()
		}
		s.mu.Lock()
		cs := s.status[r.plan.decl.Name]
		if cs != nil {
			cs.metrics = metrics
		}
		changed := cs != nil && (cs.state != state || cs.health != health)
		if changed {
			prev := cs.state
			cs.state, cs.health, cs.since = state, health, time.Now()
			s.mu.Unlock()
			if state == "connected" {
				s.log.Info("connector state changed", "instance", r.plan.decl.Name, "state", state, "was", prev)
			} else {
				s.log.Warn("connector state changed", "instance", r.plan.decl.Name, "state", state, "was", prev, "health", health)
			}
			continue
		}
		s.mu.Unlock()
	}
}
