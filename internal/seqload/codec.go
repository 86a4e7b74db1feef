package seqload

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Format is the textual form of a payload.
type Format int

const (
	// ASCII is "SEQ,UNIXNANO," followed by 'x' padding: fits raw and text codecs.
	ASCII Format = iota
	// JSON is {"s":SEQ,"t":UNIXNANO,"p":"xxx"} (the "p" padding field only when there
	// is room for it, spaces before the closing brace otherwise): fits JSON codecs.
	JSON
)

// String returns "ascii" or "json".
func (f Format) String() string {
	switch f {
	case ASCII:
		return "ascii"
	case JSON:
		return "json"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat turns "ascii" or "json" into a Format.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "ascii":
		return ASCII, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("seqload: unknown payload format %q (want ascii or json)", s)
}

// ErrMalformed is returned by Decode for a payload that is not one of ours.
var ErrMalformed = errors.New("seqload: malformed payload")

// Encode returns a new payload for seq sent at sent, padded to size bytes. A size
// smaller than the unpadded payload gives the unpadded payload.
func Encode(f Format, seq uint64, sent time.Time, size int) []byte {
	return Append(make([]byte, 0, max(size, 48)), f, seq, sent.UnixNano(), size)
}

// Append appends the payload for seq sent at sentNano (Unix nanoseconds) to dst,
// padded so that the appended part is size bytes long where possible.
func Append(dst []byte, f Format, seq uint64, sentNano int64, size int) []byte {
	start := len(dst)
	if f == JSON {
		dst = append(dst, `{"s":`...)
		dst = strconv.AppendUint(dst, seq, 10)
		dst = append(dst, `,"t":`...)
		dst = strconv.AppendInt(dst, sentNano, 10)
		const field = `,"p":""}`
		room := size - (len(dst) - start) - 1 // bytes left before the closing brace
		switch {
		case room >= len(field)-1:
			dst = append(dst, `,"p":"`...)
			dst = pad(dst, 'x', room-(len(field)-1))
			dst = append(dst, `"`...)
		case room > 0:
			dst = pad(dst, ' ', room)
		}
		return append(dst, '}')
	}
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, sentNano, 10)
	dst = append(dst, ',')
	return pad(dst, 'x', size-(len(dst)-start))
}

func pad(dst []byte, c byte, n int) []byte {
	for ; n > 0; n-- {
		dst = append(dst, c)
	}
	return dst
}

// Decode reads the sequence number and send time (Unix nanoseconds) from a payload of
// either Format; the form is told by the first byte. JSON keys may come in any order
// and with whitespace, so a payload re-serialized by a JSON codec still decodes.
func Decode(p []byte) (seq uint64, sentNano int64, err error) {
	if len(p) > 0 && p[0] == '{' {
		return decodeJSON(p)
	}
	seq, rest, ok := digits(p)
	if !ok || len(rest) == 0 || rest[0] != ',' {
		return 0, 0, ErrMalformed
	}
	t, rest, ok := digits(rest[1:])
	if !ok || (len(rest) > 0 && rest[0] != ',') || t > 1<<63-1 {
		return 0, 0, ErrMalformed
	}
	return seq, int64(t), nil
}

func decodeJSON(p []byte) (uint64, int64, error) {
	s, okS := jsonUint(p, 's')
	t, okT := jsonUint(p, 't')
	if !okS || !okT || t > 1<<63-1 {
		return 0, 0, ErrMalformed
	}
	return s, int64(t), nil
}

// jsonUint finds the key "k" (one letter) and parses the unsigned integer after it.
func jsonUint(p []byte, k byte) (uint64, bool) {
	for i := 0; i+3 <= len(p); i++ {
		if p[i] != '"' || p[i+1] != k || p[i+2] != '"' {
			continue
		}
		rest := skipSpace(p[i+3:])
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		v, _, ok := digits(skipSpace(rest[1:]))
		return v, ok
	}
	return 0, false
}

func skipSpace(p []byte) []byte {
	for len(p) > 0 && (p[0] == ' ' || p[0] == '\t' || p[0] == '\n' || p[0] == '\r') {
		p = p[1:]
	}
	return p
}

// digits parses a leading run of decimal digits (at most 20, no overflow).
func digits(p []byte) (uint64, []byte, bool) {
	var v uint64
	n := 0
	for n < len(p) && p[n] >= '0' && p[n] <= '9' {
		d := uint64(p[n] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, p, false
		}
		v = v*10 + d
		n++
	}
	return v, p[n:], n > 0
}
