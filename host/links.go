package host

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/aimdb-dev/aimdb-go/host/buffer"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// LinkInfo describes one link for the connector layer and the CLI.
type LinkInfo struct {
	// ID is the link's index in DB.Links; pass it to OpenLinkReader, DeliverLink, ...
	ID int
	// Record is the key of the linked record.
	Record string
	// Direction is sdk.Outbound (LinkTo) or sdk.Inbound (LinkFrom).
	Direction sdk.Direction
	// URL is the parsed link URL; its scheme names the connector instance.
	URL sdk.URL
	// Options are the link's options: the URL's query values, overridden by WithOption.
	Options sdk.Config
	// Codec is "json", "text", "raw" or "custom".
	Codec string
	// Stats are the link's counters when the LinkInfo was taken.
	Stats LinkStats
}

// LinkCounter names one per-link counter.
type LinkCounter uint8

// Link counters. The host counts Received, Refused and Dropped itself, and
// DeadLettered for values it gives up on (a value that does not serialize, a payload
// that does not deserialize); the connector layer counts the outcome of publishing
// (Delivered, Failed, Retried, DeadLettered) with CountLink.
const (
	LinkDelivered    LinkCounter = iota // link_to values the connector confirmed
	LinkFailed                          // publish attempts that failed (every retry counts)
	LinkRetried                         // link_to values sent again after a retryable failure
	LinkDeadLettered                    // values given up on and written to the dead-letter record
	LinkDropped                         // link_to values skipped by design: overwritten before a best-effort link read them, or replaced by a newer value (single_latest, mailbox)
	LinkReceived                        // link_from payloads produced into the record
	LinkRefused                         // link_from payloads refused for now because the record was full
	numLinkCounters
)

// LinkStats are one link's counters.
type LinkStats struct {
	Delivered, Failed, Retried, DeadLettered, Dropped uint64
	Received, Refused                                 uint64
}

// LinkPolicy is how the connector layer wants an outbound link read, set during a
// Service's Validate (before the link's first reader is subscribed).
type LinkPolicy struct {
	// Hold makes the link's reader hold its place in an SPMC ring: the record refuses
	// new values (ErrBufferFull) rather than overwrite one the link has not released.
	// Single-latest and mailbox records cannot hold; their newest value wins.
	Hold bool
	// DeadLetter is the key of the record that receives the link's values given up
	// on; empty means DeadLetterKey.
	DeadLetter string
}

// link is one built link with its value type erased.
type link struct {
	info     LinkInfo
	counters [numLinkCounters]atomic.Uint64
	policy   LinkPolicy
	// open subscribes an outbound link reader; nil for inbound links.
	open func(hold bool) linkStream
	// room is the record buffer's Room: closed when a full record may take values again.
	room func() <-chan struct{}
	// deliver decodes and produces one inbound payload, with its metadata (nil when
	// the message carried none); nil for outbound links.
	deliver func([]byte, *sdk.Metadata) error
	// latest encodes the record's newest value; nil when the link has no encoder.
	latest func() ([]byte, error)
	// pending is subscribed at Build, so values produced before the connector layer
	// opens the link are not missed; the first OpenLinkReader takes it.
	pending atomic.Pointer[LinkReader]
}

func (l *link) count(c LinkCounter, n uint64) { l.counters[c].Add(n) }

func (l *link) snapshot() LinkInfo {
	info := l.info
	info.Options = l.info.Options.Clone()
	c := &l.counters
	info.Stats = LinkStats{
		Delivered: c[LinkDelivered].Load(), Failed: c[LinkFailed].Load(), Retried: c[LinkRetried].Load(),
		DeadLettered: c[LinkDeadLettered].Load(), Dropped: c[LinkDropped].Load(),
		Received: c[LinkReceived].Load(), Refused: c[LinkRefused].Load(),
	}
	return info
}

// linkStream yields an outbound link's serialized values.
type linkStream interface {
	next(ctx context.Context) ([]byte, error)
	tryNext() ([]byte, error)
	notify(wake func()) bool
	release(n int)
	backlog() uint64
	close()
}

// linkDecl is a link as declared on a Registrar.
type linkDecl[T any] struct {
	dir   sdk.Direction
	raw   string
	codec string
	enc   encodeFunc[T]
	dec   decodeFunc[T]
	mdec  func([]byte, *sdk.Metadata) (T, error) // a deserializer that reads metadata too
	opts  sdk.Config
}

// LinkTo configures an outbound link: record values are serialized and published.
type LinkTo[T any] struct{ d *linkDecl[T] }

// LinkFrom configures an inbound link: payloads are deserialized and produced.
type LinkFrom[T any] struct{ d *linkDecl[T] }

// LinkTo links the record to url ("mqtt://sensors/temp"): every value is serialized
// (JSON unless told otherwise) and handed to the connector named by the URL's scheme.
func (r *Registrar[T]) LinkTo(url string) *LinkTo[T] {
	d := &linkDecl[T]{dir: sdk.Outbound, raw: url, codec: CodecJSON, opts: sdk.Config{}}
	r.rec.lnks = append(r.rec.lnks, d)
	return &LinkTo[T]{d}
}

// LinkFrom feeds the record from url: every inbound payload is deserialized (JSON
// unless told otherwise) and produced. The link is the record's writer.
func (r *Registrar[T]) LinkFrom(url string) *LinkFrom[T] {
	d := &linkDecl[T]{dir: sdk.Inbound, raw: url, codec: CodecJSON, opts: sdk.Config{}}
	r.rec.lnks = append(r.rec.lnks, d)
	r.rec.writers = append(r.rec.writers, "link_from "+maskedURL(url))
	return &LinkFrom[T]{d}
}

// WithCodec picks a named codec: "json" (default), "text" or "raw".
func (l *LinkTo[T]) WithCodec(name string) *LinkTo[T] { l.d.codec, l.d.enc = name, nil; return l }

// WithSerializer encodes values with fn instead of a named codec.
func (l *LinkTo[T]) WithSerializer(fn func(T) ([]byte, error)) *LinkTo[T] {
	l.d.codec, l.d.enc = CodecCustom, fn
	return l
}

// WithOption sets one link option for the connector (for example "qos", "1").
func (l *LinkTo[T]) WithOption(key, value string) *LinkTo[T] { l.d.opts[key] = value; return l }

// WithOptions sets several link options.
func (l *LinkTo[T]) WithOptions(cfg sdk.Config) *LinkTo[T] {
	for k, v := range cfg {
		l.d.opts[k] = v
	}
	return l
}

// WithCodec picks a named codec: "json" (default), "text" or "raw".
func (l *LinkFrom[T]) WithCodec(name string) *LinkFrom[T] {
	l.d.codec, l.d.dec, l.d.mdec = name, nil, nil
	return l
}

// WithDeserializer decodes payloads with fn instead of a named codec. fn must not keep
// the payload slice: the connector may reuse it.
func (l *LinkFrom[T]) WithDeserializer(fn func([]byte) (T, error)) *LinkFrom[T] {
	l.d.codec, l.d.dec, l.d.mdec = CodecCustom, fn, nil
	return l
}

// WithMessageDeserializer decodes payloads with fn, which also gets what the message
// carried beside its payload (MQTT 5 user properties, content type, response topic,
// correlation data), or nil when it carried nothing. fn must not keep the payload or
// the metadata: the connector may reuse them.
func (l *LinkFrom[T]) WithMessageDeserializer(fn func(payload []byte, meta *sdk.Metadata) (T, error)) *LinkFrom[T] {
	l.d.codec, l.d.dec, l.d.mdec = CodecCustom, nil, fn
	return l
}

// WithOption sets one link option for the connector (for example "qos", "1").
func (l *LinkFrom[T]) WithOption(key, value string) *LinkFrom[T] { l.d.opts[key] = value; return l }

// WithOptions sets several link options.
func (l *LinkFrom[T]) WithOptions(cfg sdk.Config) *LinkFrom[T] {
	for k, v := range cfg {
		l.d.opts[k] = v
	}
	return l
}

// maskedURL hides a password in a URL that may not parse, for messages.
func maskedURL(raw string) string {
	if u, err := sdk.ParseURL(raw); err == nil {
		return u.String()
	}
	return raw
}

// build parses the URL and resolves the codec.
func (d *linkDecl[T]) build(rec *record[T]) (*link, error) {
	u, err := sdk.ParseURL(d.raw)
	if err != nil {
		return nil, &ConfigError{Record: rec.key, Err: fmt.Errorf("%s: %w", d.dir, err)}
	}
	fail := func(err error) (*link, error) {
		return nil, &ConfigError{Record: rec.key, URL: u.String(), Direction: d.dir, Err: err}
	}
	if u.Resource() == "" {
		return fail(errors.New("the URL names no resource (topic, address or path)"))
	}
	opts := sdk.Config{}
	for k, vs := range u.Query {
		if len(vs) > 0 {
			opts[k] = vs[len(vs)-1]
		}
	}
	for k, v := range d.opts {
		opts[k] = v
	}
	l := &link{info: LinkInfo{Record: rec.key, Direction: d.dir, URL: u, Options: opts, Codec: d.codec}}
	enc, dec := d.enc, d.dec
	switch {
	case d.codec == CodecCustom && d.dir == sdk.Outbound && enc == nil:
		return fail(errors.New("nil serializer"))
	case d.codec == CodecCustom && d.dir == sdk.Inbound && dec == nil && d.mdec == nil:
		return fail(errors.New("nil deserializer"))
	case d.codec != CodecCustom:
		var encErr, decErr error
		enc, encErr = encoderFor[T](d.codec)
		dec, decErr = decoderFor[T](d.codec)
		if d.dir == sdk.Outbound && encErr != nil {
			return fail(encErr)
		}
		if d.dir == sdk.Inbound && decErr != nil {
			return fail(decErr)
		}
	}
	if enc != nil {
		l.latest = func() ([]byte, error) {
			v, ok := rec.buf.Peek()
			if !ok {
				return nil, fmt.Errorf("record %q: %w", rec.key, ErrNoValue)
			}
			return enc(v)
		}
	}
	l.room = rec.buf.Room
	if d.dir == sdk.Outbound {
		l.open = func(hold bool) linkStream {
			rd := rec.buf.Subscribe
			if hold {
				rd = func() buffer.Reader[T] { r, _ := rec.buf.SubscribeHolding(); return r }
			}
			return &typedStream[T]{l: l, rd: rd(), enc: enc, db: rec.db}
		}
	} else {
		mdec := d.mdec
		if mdec == nil {
			mdec = func(p []byte, _ *sdk.Metadata) (T, error) { return dec(p) }
		}
		l.deliver = func(p []byte, m *sdk.Metadata) error {
			v, err := mdec(p, m)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrInvalidValue, err)
			}
			return rec.buf.Push(v)
		}
	}
	return l, nil
}

// EncodeError is returned by LinkReader.Next for a value that did not serialize. The
// host has dead-lettered it; it still counts as one value read, to Release in order.
type EncodeError struct{ Err error }

// Error says why the value did not serialize.
func (e *EncodeError) Error() string { return "value did not serialize: " + e.Err.Error() }

// Unwrap returns the serializer's error.
func (e *EncodeError) Unwrap() error { return e.Err }

// typedStream serializes one reader's values. Values the reader never saw are counted
// as dropped; a value that fails to serialize is dead-lettered and reported.
type typedStream[T any] struct {
	l       *link
	rd      buffer.Reader[T]
	enc     encodeFunc[T]
	db      *DB
	dropped uint64 // the reader's Dropped already counted
}

func (s *typedStream[T]) next(ctx context.Context) ([]byte, error) {
	v, err := s.rd.Recv(ctx)
	return s.encode(v, err)
}

func (s *typedStream[T]) tryNext() ([]byte, error) {
	v, err := s.rd.TryRecv()
	return s.encode(v, err)
}

func (s *typedStream[T]) encode(v T, err error) ([]byte, error) {
	if d := s.rd.Dropped(); d != s.dropped {
		s.l.count(LinkDropped, d-s.dropped)
		s.dropped = d
	}
	if err != nil {
		return nil, err
	}
	p, err := s.enc(v)
	if err == nil {
		return p, nil
	}
	s.db.deadLetterValue(s.l, v, err)
	return nil, &EncodeError{Err: err}
}

func (s *typedStream[T]) notify(wake func()) bool { return s.rd.Notify(wake) }
func (s *typedStream[T]) release(n int)           { s.rd.Release(n) }
func (s *typedStream[T]) backlog() uint64         { return s.rd.Backlog() }
func (s *typedStream[T]) close()                  { s.rd.Close() }

// LinkReader hands an outbound link's serialized values to the connector layer. A
// reader of a link whose policy holds keeps its place in the record's ring: Release
// the values once they are delivered (or given up), oldest first, to make room.
type LinkReader struct {
	link   *link
	stream linkStream
	closed atomic.Bool
}

// Next waits for the next serialized value. It returns a *LagError when the reader fell
// behind (values were lost and counted as dropped; call Next again), an *EncodeError
// for a value that did not serialize (dead-lettered; it still counts for Release),
// ErrClosed once the DB shut down and every value was handed out, or ctx's error.
func (r *LinkReader) Next(ctx context.Context) ([]byte, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	return r.stream.next(ctx)
}

// TryNext is Next without waiting: ErrEmpty when no value is ready.
func (r *LinkReader) TryNext() ([]byte, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	return r.stream.tryNext()
}

// Notify lets the connector layer read without a goroutine per link: it arranges
// for wake to be called once, on a producer's goroutine, when a value may be ready
// or the record closes, and reports true; it reports false, arranging nothing, when
// TryNext has something (or an error) to return now. wake must not block. A reader
// uses Next or Notify, not both.
func (r *LinkReader) Notify(wake func()) bool {
	if r.closed.Load() {
		return false
	}
	return r.stream.notify(wake)
}

// Release releases the n oldest values read and not yet released, so producers may
// overwrite them. It does nothing for a link that does not hold.
func (r *LinkReader) Release(n int) { r.stream.release(n) }

// Backlog is how many values wait in the record for this reader.
func (r *LinkReader) Backlog() uint64 { return r.stream.backlog() }

// Info describes the link the reader belongs to.
func (r *LinkReader) Info() LinkInfo { return r.link.snapshot() }

// Close detaches the reader; a Next waiting on another goroutine returns ErrClosed.
// A holding reader stops holding.
func (r *LinkReader) Close() {
	if r.closed.CompareAndSwap(false, true) {
		r.stream.close()
	}
}

// Links lists every link in id order.
func (db *DB) Links() []LinkInfo {
	out := make([]LinkInfo, len(db.links))
	for i, l := range db.links {
		out[i] = l.snapshot()
	}
	return out
}

func (db *DB) linkByID(id int, dir sdk.Direction) (*link, error) {
	if id < 0 || id >= len(db.links) {
		return nil, fmt.Errorf("%w: id %d", ErrUnknownLink, id)
	}
	l := db.links[id]
	if dir != 0 && l.info.Direction != dir {
		return nil, fmt.Errorf("%w: link %d (%s) of record %q is %s, not %s", ErrUnknownLink, id, l.info.URL, l.info.Record, l.info.Direction, dir)
	}
	return l, nil
}

// SetLinkPolicy sets how link id is read (outbound) and where its values given up on
// go (both directions). Call it from a Service's Validate: an outbound link's first
// reader is subscribed, with the policy, when Build succeeds.
func (db *DB) SetLinkPolicy(id int, p LinkPolicy) error {
	l, err := db.linkByID(id, 0)
	if err != nil {
		return err
	}
	if p.DeadLetter != "" {
		if err := db.checkDeadLetterTarget(p.DeadLetter); err != nil {
			return err
		}
	}
	if l.info.Direction == sdk.Inbound {
		p.Hold = false // holding is for readers; an inbound link only picks its dead letters
	}
	l.policy = p
	return nil
}

// OpenLinkReader opens a reader of the outbound link id. The first reader opened for a
// link was subscribed at Build, with the link's policy, so it misses nothing produced
// before the connector was ready; later ones see values produced after they were
// opened, and never hold.
func (db *DB) OpenLinkReader(id int) (*LinkReader, error) {
	l, err := db.linkByID(id, sdk.Outbound)
	if err != nil {
		return nil, err
	}
	if r := l.pending.Swap(nil); r != nil {
		return r, nil
	}
	return &LinkReader{link: l, stream: l.open(false)}, nil
}

// LinkRoom returns a channel that is closed when link id's record may take values
// again after refusing one with ErrBufferFull. Get it before delivering again.
func (db *DB) LinkRoom(id int) <-chan struct{} {
	l, err := db.linkByID(id, 0)
	if err != nil {
		return closedRoom
	}
	return l.room()
}

var closedRoom = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// DeliverLink deserializes payload with the inbound link id's codec and produces it
// into the record. It fails with an sdk error naming the link and record: KindRejected
// for a payload that does not deserialize (to be dead-lettered; counted by the caller
// with LinkDeadLettered), KindBufferFull while an at-least-once link of the record is a
// full ring behind (counted as refused; deliver it again after LinkRoom), and
// KindClosed after shutdown. The payload is not kept.
func (db *DB) DeliverLink(id int, payload []byte) error {
	return db.DeliverLinkMessage(id, payload, nil)
}

// DeliverLinkMessage is DeliverLink for a message with metadata (nil when it carried
// none): a link with WithMessageDeserializer gets it, every other link ignores it.
// Neither the payload nor the metadata is kept.
func (db *DB) DeliverLinkMessage(id int, payload []byte, meta *sdk.Metadata) error {
	l, err := db.linkByID(id, sdk.Inbound)
	if err != nil {
		return sdk.Wrap(sdk.KindNoRoute, err)
	}
	if err := l.deliver(payload, meta); err != nil {
		kind := sdk.KindRejected
		switch {
		case errors.Is(err, ErrClosed):
			kind = sdk.KindClosed
		case errors.Is(err, ErrBufferFull):
			kind = sdk.KindBufferFull
			l.count(LinkRefused, 1)
		}
		return sdk.Errorf(kind, "link %s -> record %q: %w", l.info.URL, l.info.Record, err)
	}
	l.count(LinkReceived, 1)
	return nil
}

// LatestLink returns the newest value of link id's record, serialized with the link's
// codec. It fails with sdk.KindRejected when the link has no encoder (an inbound link
// with a custom deserializer) and wraps ErrNoValue when nothing was produced yet.
func (db *DB) LatestLink(id int) ([]byte, error) {
	l, err := db.linkByID(id, 0)
	if err != nil {
		return nil, sdk.Wrap(sdk.KindNoRoute, err)
	}
	if l.latest == nil {
		return nil, sdk.Errorf(sdk.KindRejected, "link %s of record %q cannot serialize values (custom deserializer only)", l.info.URL, l.info.Record)
	}
	return l.latest()
}

// CountLink adds n to one of link id's counters; the connector layer counts the
// outcomes of publishing this way. Unknown ids are ignored.
func (db *DB) CountLink(id int, c LinkCounter, n uint64) {
	if id >= 0 && id < len(db.links) && c < numLinkCounters {
		db.links[id].count(c, n)
	}
}

// LinkStats returns link id's counters.
func (db *DB) LinkStats(id int) (LinkStats, error) {
	l, err := db.linkByID(id, 0)
	if err != nil {
		return LinkStats{}, err
	}
	return l.snapshot().Stats, nil
}
