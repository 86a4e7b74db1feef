package control

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
)

// ForDB serves a host database over the control socket.
func ForDB(db *host.DB) Backend { return dbBackend{db} }

type dbBackend struct{ db *host.DB }

func (b dbBackend) Records() []RecordInfo {
	infos := b.db.Records()
	out := make([]RecordInfo, 0, len(infos))
	for _, r := range infos {
		ri := RecordInfo{
			Key: r.Key, Type: r.Type, Buffer: r.Buffer, Capacity: r.Capacity,
			Writable: r.Writable && r.Writer == "", Writer: r.Writer,
			Counters: map[string]uint64{
				"produced":     r.Stats.Produced,
				"consumed":     r.Stats.Consumed,
				"dropped":      r.Stats.Dropped,
				"refused":      r.Stats.Refused,
				"lagged":       r.Stats.Lagged,
				"occupancy":    uint64(max(r.Stats.Occupancy, 0)),
				"consumers":    uint64(max(r.Stats.Consumers, 0)),
				"stage_errors": r.Stats.StageErrors,
			},
		}
		for _, l := range r.Links {
			ri.Links = append(ri.Links, LinkInfo{
				Direction: l.Direction.String(), URL: l.URL.String(), Codec: l.Codec,
				Counters: map[string]uint64{
					"delivered": l.Stats.Delivered, "failed": l.Stats.Failed, "retried": l.Stats.Retried,
					"dead_lettered": l.Stats.DeadLettered, "dropped": l.Stats.Dropped,
					"received": l.Stats.Received, "refused": l.Stats.Refused,
				},
			})
		}
		out = append(out, ri)
	}
	return out
}

func (b dbBackend) Get(key string) (json.RawMessage, error) {
	v, err := b.db.GetJSON(key)
	return v, classify(err)
}

func (b dbBackend) Set(key string, value json.RawMessage) error {
	return classify(b.db.SetJSON(key, value))
}

func (b dbBackend) Watch(key string) (Watcher, error) {
	info, ok := b.db.Record(key)
	if !ok {
		return nil, classify(fmt.Errorf("%w %q", host.ErrUnknownRecord, key))
	}
	if info.Buffer == "mailbox" {
		// A mailbox hands each value to one consumer; a watcher would take commands
		// away from the link or stage that should act on them.
		return nil, fmt.Errorf("record %q is a mailbox: watching would take its values from their consumer: %w", key, ErrDenied)
	}
	w, err := b.db.WatchJSON(key)
	if err != nil {
		return nil, classify(err)
	}
	return dbWatcher{w: w}, nil
}

func (b dbBackend) Links() []LinkStatus {
	if s := connect.Of(b.db); s != nil {
		return s.Links()
	}
	return nil
}

func (b dbBackend) Connectors() []ConnectorStatus {
	if s := connect.Of(b.db); s != nil {
		return s.Connectors()
	}
	return nil
}

func (b dbBackend) Graph() Graph {
	g := b.db.Graph()
	out := Graph{Nodes: []GraphNode{}, Edges: []GraphEdge{}, TopoOrder: append([]string{}, g.Order...)}
	for _, n := range g.Nodes {
		out.Nodes = append(out.Nodes, GraphNode{ID: n.ID, Kind: n.Kind, Label: n.Label})
	}
	for _, e := range g.Edges {
		out.Edges = append(out.Edges, GraphEdge{From: e.From, To: e.To, Label: e.Kind})
	}
	return out
}

// dbWatcher turns the host's lag errors into lag counts.
type dbWatcher struct {
	w *host.JSONWatcher
}

// TryNext returns the next value, adding up the values a ring reader missed before it.
func (d dbWatcher) TryNext() (json.RawMessage, uint64, bool, error) {
	var lagged uint64
	for {
		v, err := d.w.TryNext()
		var lag *host.LagError
		switch {
		case errors.As(err, &lag):
			lagged += lag.Missed // the ring moved this reader to its oldest value: read on
		case errors.Is(err, host.ErrEmpty):
			return nil, lagged, false, nil
		case err != nil:
			return nil, lagged, false, err
		default:
			return v, lagged, true, nil
		}
	}
}

func (d dbWatcher) Notify(wake func()) bool { return d.w.Notify(wake) }

func (d dbWatcher) Close() { d.w.Close() }

// classified keeps the host's message and adds the control error kind.
type classified struct {
	err  error
	kind error
}

func (c classified) Error() string { return c.err.Error() }

func (c classified) Unwrap() []error { return []error{c.err, c.kind} }

// classify maps host errors to the control sentinels.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, host.ErrUnknownRecord):
		return classified{err, ErrNotFound}
	case errors.Is(err, host.ErrNoValue):
		return classified{err, ErrNoValue}
	case errors.Is(err, host.ErrDenied):
		return classified{err, ErrDenied}
	case errors.Is(err, host.ErrInvalidValue):
		return classified{err, ErrInvalid}
	case errors.Is(err, host.ErrBufferFull):
		return classified{fmt.Errorf("%w: an at-least-once link of the record is a whole buffer behind; try again when it catches up (aimdb link list)", err), ErrBufferFull}
	}
	return err
}
