package host

import "github.com/aimdb-dev/aimdb-go/host/buffer"

// RecordInfo describes one record and its counters, for the CLI and control socket.
type RecordInfo struct {
	// Key is the record's key.
	Key string
	// Type is the Go type of its values ("main.Temperature", "json.RawMessage").
	Type string
	// Buffer is "spmc_ring", "single_latest" or "mailbox"; Capacity its size.
	Buffer   string
	Capacity int
	// Writable says whether SetJSON may write it (also requires Writer == "").
	Writable bool
	// Writer is the record's writer ("source", "transform from a", "link_from mqtt://x"),
	// or "" when only code and SetJSON write it.
	Writer string
	// Inputs are the records a transform or join computes it from.
	Inputs []string
	// Sources and Taps count the record's stages of each kind.
	Sources, Taps int
	// Stats are the buffer's counters.
	Stats RecordStats
	// Links are the record's links with their counters.
	Links []LinkInfo
}

// RecordStats are one record's counters.
type RecordStats struct {
	// Produced counts values written into the record.
	Produced uint64
	// Consumed counts values handed to consumers (every consumer counts).
	Consumed uint64
	// Dropped counts values a consumer never got: lost to lag, skipped by a
	// single-latest consumer, or overwritten unread in a mailbox.
	Dropped uint64
	// Refused counts values the record refused (ErrBufferFull) because an
	// at-least-once link was a whole ring behind.
	Refused uint64
	// Lagged counts the times a consumer fell behind an SPMC ring.
	Lagged uint64
	// Occupancy is how many values wait for the slowest consumer.
	Occupancy int
	// Consumers is the number of open consumers, stages and link readers included.
	Consumers int
	// StageErrors counts stages of the record that failed or panicked.
	StageErrors uint64
}

// Records describes every record in declaration order.
func (db *DB) Records() []RecordInfo {
	out := make([]RecordInfo, 0, len(db.order))
	for _, key := range db.order {
		out = append(out, db.recordInfo(db.records[key]))
	}
	return out
}

// KeyStats is one record's key and counters.
type KeyStats struct {
	Key   string
	Stats RecordStats
}

// RecordStats returns every record's counters in declaration order: Records without
// the descriptions, for callers that read the counters often (a /metrics scrape).
func (db *DB) RecordStats() []KeyStats {
	out := make([]KeyStats, 0, len(db.order))
	for _, key := range db.order {
		r := db.records[key]
		out = append(out, KeyStats{Key: key, Stats: recordStats(r.stats(), r.core().stageErrors.Load())})
	}
	return out
}

// Record describes one record; ok is false when key is unknown.
func (db *DB) Record(key string) (info RecordInfo, ok bool) {
	r, ok := db.records[key]
	if !ok {
		return RecordInfo{}, false
	}
	return db.recordInfo(r), true
}

func (db *DB) recordInfo(r anyRecord) RecordInfo {
	c := r.core()
	st := r.stats()
	info := RecordInfo{
		Key:      c.key,
		Type:     c.typ.String(),
		Buffer:   c.spec.Kind.String(),
		Capacity: c.spec.Capacity,
		Writable: c.writable,
		Inputs:   append([]string(nil), c.inputs...),
		Sources:  c.sources,
		Taps:     c.taps,
		Stats:    recordStats(st, c.stageErrors.Load()),
	}
	if len(c.writers) > 0 {
		info.Writer = c.writers[0]
	}
	for _, l := range c.links {
		info.Links = append(info.Links, l.snapshot())
	}
	return info
}

func recordStats(st buffer.Stats, stageErrors uint64) RecordStats {
	return RecordStats{
		Produced:    st.Produced,
		Consumed:    st.Consumed,
		Dropped:     st.Dropped,
		Refused:     st.Refused,
		Lagged:      st.Lagged,
		Occupancy:   st.Occupancy,
		Consumers:   st.Readers,
		StageErrors: stageErrors,
	}
}
