// Package dpt converts between JSON values and the data bytes of KNX datapoint types
// (DPTs). Every conversion checks the type's range: a value that does not fit is an
// error naming the DPT and its range, never clamped.
package dpt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Type is one datapoint type: how its JSON value maps to telegram data bytes.
type Type struct {
	// ID is the canonical "main.sub" identifier, e.g. "9.001".
	ID string
	// Name says what the type carries, with its unit.
	Name string
	// JSON describes the JSON value, e.g. "number -273..670760".
	JSON string
	// Short is true for types of 6 bits or fewer, whose value travels inside the
	// APCI octet of the telegram (DPT 1, 2, 3).
	Short bool
	// Size is the number of data bytes (1 for short types; 14 for strings).
	Size int

	upTo   bool // Decode takes 1..Size bytes (strings), not exactly Size
	encode func(t *Type, v any) ([]byte, error)
	decode func(t *Type, b []byte) (any, error)
}

var registry = map[string]*Type{}

func register(t *Type) {
	if _, dup := registry[t.ID]; dup {
		panic("dpt: duplicate type " + t.ID)
	}
	registry[t.ID] = t
}

// Lookup finds a type by identifier. It accepts "9.001", "9.1", "DPT9.001",
// "DPST-9-1" (ETS) and a main number alone ("9", "DPT-9") for the main type's
// generic form.
func Lookup(id string) (*Type, error) {
	norm, ok := normalize(id)
	if ok {
		if t, found := registry[norm]; found {
			return t, nil
		}
	}
	return nil, fmt.Errorf("dpt %q is not a known datapoint type (known: %s)", id, knownMains())
}

// normalize turns the accepted spellings into "main.sub" with a 3-digit sub, or
// "main" alone.
func normalize(id string) (string, bool) {
	s := strings.TrimSpace(id)
	upper := strings.ToUpper(s)
	var main, sub string
	switch {
	case strings.HasPrefix(upper, "DPST-"):
		parts := strings.Split(s[5:], "-")
		if len(parts) != 2 {
			return "", false
		}
		main, sub = parts[0], parts[1]
	case strings.HasPrefix(upper, "DPT-"):
		main = s[4:]
	case strings.HasPrefix(upper, "DPT"):
		main, sub, _ = strings.Cut(strings.TrimSpace(s[3:]), ".")
	default:
		main, sub, _ = strings.Cut(s, ".")
	}
	m, err := strconv.Atoi(main)
	if err != nil || m < 0 || m > 999 || strings.HasPrefix(main, "+") {
		return "", false
	}
	if sub == "" {
		return strconv.Itoa(m), !strings.HasSuffix(s, ".")
	}
	n, err := strconv.Atoi(sub)
	if err != nil || n < 0 || n > 999 || strings.HasPrefix(sub, "+") {
		return "", false
	}
	return fmt.Sprintf("%d.%03d", m, n), true
}

func knownMains() string {
	seen := map[string]bool{}
	var mains []int
	for id := range registry {
		m, _, _ := strings.Cut(id, ".")
		if !seen[m] {
			seen[m] = true
			n, _ := strconv.Atoi(m)
			mains = append(mains, n)
		}
	}
	sort.Ints(mains)
	out := make([]string, len(mains))
	for i, m := range mains {
		out[i] = strconv.Itoa(m) + ".x"
	}
	return strings.Join(out, ", ")
}

// Types returns every registered type, ordered by main and sub number.
func Types() []*Type {
	out := make([]*Type, 0, len(registry))
	for _, t := range registry {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return idLess(out[i].ID, out[j].ID) })
	return out
}

func idLess(a, b string) bool {
	am, as, _ := strings.Cut(a, ".")
	bm, bs, _ := strings.Cut(b, ".")
	ai, _ := strconv.Atoi(am)
	bi, _ := strconv.Atoi(bm)
	if ai != bi {
		return ai < bi
	}
	return as < bs
}

// Encode converts a JSON value into the type's data bytes. For a Short type the
// result is one byte holding the 6-bit-or-less value.
func (t *Type) Encode(value []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, t.errorf("payload %q is not a JSON value: %v", clip(value), err)
	}
	if dec.More() {
		return nil, t.errorf("payload %q holds more than one JSON value", clip(value))
	}
	return t.encode(t, v)
}

// Decode converts data bytes into the type's JSON value.
func (t *Type) Decode(data []byte) ([]byte, error) {
	if !t.upTo && len(data) != t.Size {
		return nil, t.errorf("want %d data byte(s), got %d (% X)", t.Size, len(data), data)
	}
	v, err := t.decode(t, data)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case json.Number:
		return []byte(x), nil
	}
	return json.Marshal(v)
}

// String returns "9.001 temperature (°C)".
func (t *Type) String() string { return t.ID + " " + t.Name }

func (t *Type) errorf(format string, args ...any) error {
	return fmt.Errorf("DPT %s (%s): %s", t.ID, t.Name, fmt.Sprintf(format, args...))
}

// rangeError names the value, the DPT and its range.
func (t *Type) rangeError(v any, rng string) error {
	return t.errorf("%v is out of range %s", v, rng)
}

func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}
