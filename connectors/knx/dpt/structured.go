package dpt

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

func formatFloat32(x float32) string { return strconv.FormatFloat(float64(x), 'g', -1, 32) }

// boolType is DPT 1: one bit, as JSON true/false.
func boolType(id, name string) *Type {
	return &Type{
		ID: id, Name: name, Short: true, Size: 1, JSON: "boolean (0/1 accepted)",
		encode: func(t *Type, v any) ([]byte, error) {
			b, err := t.asBool(v)
			if err != nil {
				return nil, err
			}
			if b {
				return []byte{1}, nil
			}
			return []byte{0}, nil
		},
		decode: func(t *Type, b []byte) (any, error) {
			if b[0] > 1 {
				return nil, t.errorf("data %02X does not fit 1 bit", b[0])
			}
			return b[0] == 1, nil
		},
	}
}

// controlType is DPT 2: a control bit and a value bit, as {"control": bool, "value": bool}.
func controlType(id, name string) *Type {
	return &Type{
		ID: id, Name: name, Short: true, Size: 1, JSON: `{"control": boolean, "value": boolean}`,
		encode: func(t *Type, v any) ([]byte, error) {
			m, err := t.asObject(v, "control", "value")
			if err != nil {
				return nil, err
			}
			c, err := t.asBool(m["control"])
			if err != nil {
				return nil, t.field("control", err)
			}
			val, err := t.asBool(m["value"])
			if err != nil {
				return nil, t.field("value", err)
			}
			return []byte{bit(c)<<1 | bit(val)}, nil
		},
		decode: func(t *Type, b []byte) (any, error) {
			if b[0] > 3 {
				return nil, t.errorf("data %02X does not fit 2 bits", b[0])
			}
			return map[string]any{"control": b[0]&2 != 0, "value": b[0]&1 != 0}, nil
		},
	}
}

// stepType is DPT 3: a direction bit and a 3-bit step code, as
// {"control": bool, "step": 0..7}; step 0 means stop.
func stepType(id, name string) *Type {
	return &Type{
		ID: id, Name: name, Short: true, Size: 1, JSON: `{"control": boolean, "step": 0..7}`,
		encode: func(t *Type, v any) ([]byte, error) {
			m, err := t.asObject(v, "control", "step")
			if err != nil {
				return nil, err
			}
			c, err := t.asBool(m["control"])
			if err != nil {
				return nil, t.field("control", err)
			}
			s, err := t.asInt(m["step"], 0, 7, "")
			if err != nil {
				return nil, t.field("step", err)
			}
			return []byte{bit(c)<<3 | byte(s)}, nil
		},
		decode: func(t *Type, b []byte) (any, error) {
			if b[0] > 0xF {
				return nil, t.errorf("data %02X does not fit 4 bits", b[0])
			}
			return map[string]any{"control": b[0]&8 != 0, "step": int(b[0] & 7)}, nil
		},
	}
}

func bit(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// timeOfDayType is DPT 10.001: weekday (0 = none, 1 = Monday .. 7 = Sunday), hour,
// minute, second, as {"day":0,"hour":12,"minute":30,"second":0}; "12:30:00" is
// accepted on encode.
func timeOfDayType() *Type {
	return &Type{
		ID: "10.001", Name: "time of day", Size: 3,
		JSON: `{"day": 0..7, "hour": 0..23, "minute": 0..59, "second": 0..59} or "HH:MM:SS"`,
		encode: func(t *Type, v any) ([]byte, error) {
			var d, h, m, s int64
			if str, ok := v.(string); ok {
				tm, err := time.Parse("15:04:05", str)
				if err != nil {
					return nil, t.errorf("time %q: want HH:MM:SS with hour 0..23", str)
				}
				h, m, s = int64(tm.Hour()), int64(tm.Minute()), int64(tm.Second())
			} else {
				o, err := t.asObject(v, "day", "hour", "minute", "second")
				if err != nil {
					return nil, err
				}
				for _, f := range []struct {
					key string
					dst *int64
					max int64
				}{{"day", &d, 7}, {"hour", &h, 23}, {"minute", &m, 59}, {"second", &s, 59}} {
					if *f.dst, err = t.asInt(o[f.key], 0, f.max, ""); err != nil {
						return nil, t.field(f.key, err)
					}
				}
			}
			return []byte{byte(d<<5 | h), byte(m), byte(s)}, nil
		},
		decode: func(t *Type, b []byte) (any, error) {
			d, h, m, s := b[0]>>5, b[0]&0x1F, b[1], b[2]
			if h > 23 || m > 59 || s > 59 {
				return nil, t.errorf("data % X is not a valid time of day", b)
			}
			return map[string]any{"day": int(d), "hour": int(h), "minute": int(m), "second": int(s)}, nil
		},
	}
}

// dateType is DPT 11.001: a date 1990-01-01..2089-12-31 as "YYYY-MM-DD".
func dateType() *Type {
	return &Type{
		ID: "11.001", Name: "date", Size: 3, JSON: `"YYYY-MM-DD" 1990-01-01..2089-12-31`,
		encode: func(t *Type, v any) ([]byte, error) {
			str, ok := v.(string)
			if !ok {
				return nil, t.errorf("want a date string \"YYYY-MM-DD\", got %s", describe(v))
			}
			d, err := time.Parse("2006-01-02", str)
			if err != nil {
				return nil, t.errorf("date %q: want a valid date YYYY-MM-DD", str)
			}
			y := d.Year()
			if y < 1990 || y > 2089 {
				return nil, t.rangeError(strconv.Quote(str), "1990-01-01..2089-12-31")
			}
			return []byte{byte(d.Day()), byte(d.Month()), byte(y % 100)}, nil
		},
		decode: func(t *Type, b []byte) (any, error) {
			day, month, yy := int(b[0]&0x1F), int(b[1]&0x0F), int(b[2]&0x7F)
			if b[0]&0xE0 != 0 || b[1]&0xF0 != 0 || b[2]&0x80 != 0 || yy > 99 {
				return nil, t.errorf("data % X has reserved bits set or a year above 99", b)
			}
			year := 2000 + yy
			if yy >= 90 {
				year = 1900 + yy
			}
			d := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
			if d.Day() != day || int(d.Month()) != month {
				return nil, t.errorf("data % X is not a valid date", b)
			}
			return d.Format("2006-01-02"), nil
		},
	}
}

// stringType is DPT 16: up to 14 characters, padded with NUL bytes.
func stringType(id, name string, maxRune rune) *Type {
	charset := "ASCII"
	if maxRune > 0x7F {
		charset = "ISO 8859-1"
	}
	return &Type{
		ID: id, Name: name, Size: 14, upTo: true, JSON: "string of at most 14 " + charset + " characters",
		encode: func(t *Type, v any) ([]byte, error) {
			str, ok := v.(string)
			if !ok {
				return nil, t.errorf("want a string, got %s", describe(v))
			}
			if n := utf8.RuneCountInString(str); n > 14 {
				return nil, t.errorf("string of %d characters is longer than 14", n)
			}
			out := make([]byte, 0, 14)
			for _, r := range str {
				if r > maxRune || r == 0 {
					return nil, t.errorf("character %q is not in %s (1..%d)", r, charset, maxRune)
				}
				out = append(out, byte(r))
			}
			for len(out) < 14 {
				out = append(out, 0)
			}
			return out, nil
		},
		decode: func(t *Type, b []byte) (any, error) {
			if len(b) == 0 || len(b) > 14 {
				return nil, t.errorf("want 1..14 data bytes, got %d", len(b))
			}
			var sb strings.Builder
			for _, c := range b {
				if c == 0 {
					break
				}
				if rune(c) > maxRune {
					return nil, t.errorf("byte %02X is not %s", c, charset)
				}
				sb.WriteRune(rune(c))
			}
			return sb.String(), nil
		},
	}
}

// sceneControlType is DPT 18.001: {"learn": bool, "scene": 0..63}.
func sceneControlType() *Type {
	return &Type{
		ID: "18.001", Name: "scene control", Size: 1, JSON: `{"learn": boolean, "scene": 0..63}`,
		encode: func(t *Type, v any) ([]byte, error) {
			m, err := t.asObject(v, "learn", "scene")
			if err != nil {
				return nil, err
			}
			l, err := t.asBool(m["learn"])
			if err != nil {
				return nil, t.field("learn", err)
			}
			s, err := t.asInt(m["scene"], 0, 63, "")
			if err != nil {
				return nil, t.field("scene", err)
			}
			return []byte{bit(l)<<7 | byte(s)}, nil
		},
		decode: func(t *Type, b []byte) (any, error) {
			if b[0]&0x40 != 0 {
				return nil, t.errorf("data %02X has the reserved bit set", b[0])
			}
			return map[string]any{"learn": b[0]&0x80 != 0, "scene": int(b[0] & 0x3F)}, nil
		},
	}
}

// rgbType is DPT 232.600: {"r":0..255,"g":0..255,"b":0..255}; "#RRGGBB" is accepted on encode.
func rgbType() *Type {
	return &Type{
		ID: "232.600", Name: "RGB colour", Size: 3, JSON: `{"r": 0..255, "g": 0..255, "b": 0..255} or "#RRGGBB"`,
		encode: func(t *Type, v any) ([]byte, error) {
			if str, ok := v.(string); ok {
				var r, g, b uint8
				if len(str) != 7 || str[0] != '#' {
					return nil, t.errorf("colour %q: want \"#RRGGBB\"", str)
				}
				if _, err := fmt.Sscanf(str[1:], "%02x%02x%02x", &r, &g, &b); err != nil {
					return nil, t.errorf("colour %q: want \"#RRGGBB\" with hex digits", str)
				}
				return []byte{r, g, b}, nil
			}
			m, err := t.asObject(v, "r", "g", "b")
			if err != nil {
				return nil, err
			}
			out := make([]byte, 3)
			for i, k := range []string{"r", "g", "b"} {
				c, err := t.asInt(m[k], 0, 255, "")
				if err != nil {
					return nil, t.field(k, err)
				}
				out[i] = byte(c)
			}
			return out, nil
		},
		decode: func(t *Type, b []byte) (any, error) {
			return map[string]any{"r": int(b[0]), "g": int(b[1]), "b": int(b[2])}, nil
		},
	}
}

// enumType is an 8-bit enumeration (DPT 20) with values 0..max; names, when given,
// are accepted on encode as strings.
func enumType(id, name string, max int64, names ...string) *Type {
	desc := "integer " + rangeText(0, float64(max), "")
	if len(names) > 0 {
		desc += ` or one of "` + strings.Join(names, `", "`) + `"`
	}
	return &Type{
		ID: id, Name: name, Size: 1, JSON: desc,
		encode: func(t *Type, v any) ([]byte, error) {
			if s, ok := v.(string); ok && len(names) > 0 {
				for i, n := range names {
					if n == s {
						return []byte{byte(i)}, nil
					}
				}
				return nil, t.errorf("%q is not one of %s", s, strings.Join(names, ", "))
			}
			n, err := t.asInt(v, 0, max, "")
			if err != nil {
				return nil, err
			}
			return []byte{byte(n)}, nil
		},
		decode: func(t *Type, b []byte) (any, error) {
			if int64(b[0]) > max {
				return nil, t.errorf("data %02X is out of range 0..%d", b[0], max)
			}
			return json.Number(strconv.Itoa(int(b[0]))), nil
		},
	}
}
