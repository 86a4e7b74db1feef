package host

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// DeadLetterKey is the built-in record that receives every value given up on, in both
// directions, as JSON (DeadLetter). Build declares it as an spmc_ring of
// DeadLetterCapacity unless the configuration declares it (then it must hold
// json.RawMessage). Link it like any record, or watch it.
const DeadLetterKey = "aimdb.dead_letters"

// DeadLetterCapacity is the ring size of the built-in dead-letter record.
const DeadLetterCapacity = 1024

// MaxDeadLetterPayload is the most payload bytes a dead letter carries; a longer
// payload is cut and marked truncated, its full size kept.
const MaxDeadLetterPayload = 64 << 10

// deadLetterWriter is the writer name dead-letter records carry.
const deadLetterWriter = "dead letters"

// DeadLetter is one value given up on.
type DeadLetter struct {
	// Direction is sdk.Outbound for a value that could not be published, sdk.Inbound
	// for an inbound payload the record could not take.
	Direction sdk.Direction
	// Instance is the connector instance; empty when the host gave up before it.
	Instance string
	// Err is why; its sdk kind is recorded with it.
	Err error
	// Payload is the value as published or received (nil when there is none).
	Payload []byte
	// Size is the payload's full size when Payload was cut before it got here; 0
	// means len(Payload).
	Size int
}

// deadLetterJSON is a dead letter as the record holds it.
type deadLetterJSON struct {
	Time      time.Time `json:"time"`
	Direction string    `json:"direction"`
	Instance  string    `json:"instance,omitempty"`
	Link      string    `json:"link"`
	Record    string    `json:"record"`
	ErrorKind string    `json:"error_kind"`
	Error     string    `json:"error"`
	Payload   *string   `json:"payload"`
	Encoding  string    `json:"payload_encoding,omitempty"` // "text" or "base64"
	Size      int       `json:"payload_size"`
	Truncated bool      `json:"payload_truncated,omitempty"`
}

// DeadLetter writes dl for link id into the link's dead-letter record and counts it.
// It waits while that record is full, until ctx ends; it fails with ErrClosed once
// the dead-letter record closed at the end of shutdown.
func (db *DB) DeadLetter(ctx context.Context, id int, dl DeadLetter) error {
	l, err := db.linkByID(id, 0)
	if err != nil {
		return err
	}
	return db.deadLetter(ctx, l, dl)
}

func (db *DB) deadLetter(ctx context.Context, l *link, dl DeadLetter) error {
	rec, err := db.deadLetterRecord(l.policy.DeadLetter)
	if err != nil {
		return err
	}
	doc := deadLetterJSON{
		Time: time.Now().UTC(), Direction: dl.Direction.String(), Instance: dl.Instance,
		Link: l.info.URL.String(), Record: l.info.Record,
		ErrorKind: sdk.KindOf(dl.Err).String(), Size: max(dl.Size, len(dl.Payload)),
	}
	if dl.Err != nil {
		doc.Error = dl.Err.Error()
	}
	if dl.Payload != nil {
		p := dl.Payload
		if len(p) > MaxDeadLetterPayload {
			p, doc.Truncated = p[:MaxDeadLetterPayload], true
		}
		doc.Truncated = doc.Truncated || doc.Size > len(p)
		text := string(p)
		doc.Encoding = "text"
		if !utf8.ValidString(text) {
			b, _ := json.Marshal(p) // a []byte marshals as base64
			text, doc.Encoding = string(b[1:len(b)-1]), "base64"
		}
		doc.Payload = &text
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if err := pushWait(ctx, rec.buf, json.RawMessage(raw)); err != nil {
		return fmt.Errorf("dead letter for link %s of record %q not written to %q: %w", l.info.URL, l.info.Record, rec.key, err)
	}
	l.count(LinkDeadLettered, 1)
	return nil
}

// deadLetterValue dead-letters a value that did not serialize, waiting while the
// dead-letter record is full; if that record closed, the loss is logged.
func (db *DB) deadLetterValue(l *link, v any, cause error) {
	err := db.deadLetter(context.Background(), l, DeadLetter{
		Direction: sdk.Outbound, Err: sdk.Wrap(sdk.KindRejected, fmt.Errorf("value did not serialize: %w", cause)),
		Payload: []byte(fmt.Sprint(v)),
	})
	if err != nil {
		db.log.Error("value lost: it did not serialize and the dead letter could not be written",
			"record", l.info.Record, "link", l.info.URL.String(), "cause", cause, "error", err)
		return
	}
	db.log.Warn("value did not serialize; dead-lettered", "record", l.info.Record, "link", l.info.URL.String(), "error", cause)
}

// deadLetterRecord returns the dead-letter record key ("" for DeadLetterKey).
func (db *DB) deadLetterRecord(key string) (*record[json.RawMessage], error) {
	if key == "" {
		key = DeadLetterKey
	}
	rec, err := lookup[json.RawMessage](db, key)
	if err != nil {
		return nil, fmt.Errorf("dead-letter record: %w", err)
	}
	return rec, nil
}

// checkDeadLetterTarget checks that key can take dead letters: it exists, holds JSON
// and has no writer but dead letters. It marks it as a dead-letter record.
func (db *DB) checkDeadLetterTarget(key string) error {
	a, ok := db.records[key]
	if !ok {
		return fmt.Errorf("dead_letter record %q is not declared", key)
	}
	c := a.core()
	if c.typ != reflect.TypeFor[json.RawMessage]() {
		return fmt.Errorf("dead_letter record %q holds %s; dead letters are JSON (json.RawMessage)", key, c.typ)
	}
	for _, w := range c.writers {
		if w != deadLetterWriter {
			return fmt.Errorf("dead_letter record %q is already written by its %s", key, w)
		}
	}
	if len(c.writers) == 0 {
		c.writers = append(c.writers, deadLetterWriter)
	}
	c.deadLetters = true
	return nil
}

// declareDeadLetters declares the built-in dead-letter record unless the builder has
// it already, and marks it as written by dead letters.
func (b *Builder) declareDeadLetters() {
	if _, ok := b.records[DeadLetterKey]; !ok {
		Configure[json.RawMessage](b, DeadLetterKey, func(r *Registrar[json.RawMessage]) {
			r.SPMCRing(DeadLetterCapacity)
		})
	}
	c := b.records[DeadLetterKey].core()
	c.writers = append([]string{deadLetterWriter}, c.writers...)
	c.deadLetters = true
}

// CloseDeadLetters closes the dead-letter records, which shutdown keeps open until the
// connector layer has drained every other link, so values given up on while draining
// still find their record. Calling it again does nothing.
func (db *DB) CloseDeadLetters() {
	for _, key := range db.order {
		if r := db.records[key]; r.core().deadLetters {
			r.closeBuffer()
		}
	}
}

// IsDeadLetterRecord reports whether key receives dead letters.
func (db *DB) IsDeadLetterRecord(key string) bool {
	r, ok := db.records[key]
	return ok && r.core().deadLetters
}
