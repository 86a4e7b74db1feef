package dpt

import (
	"encoding/binary"
	"encoding/json"
	"math"
)

// scaled describes an integer type whose value is raw*mul/div in the user's unit.
type scaled struct {
	bytes    int
	signed   bool
	mul, div float64 // value = raw * mul / div; both 1 for plain integers
	decimals int     // decimals of decoded values
	min, max float64 // allowed values, in the user's unit
	unit     string
}

// rawRange returns the raw integer range of the encoding.
func (s scaled) rawRange() (int64, int64) {
	bits := uint(8 * s.bytes)
	if s.signed {
		return -(1 << (bits - 1)), 1<<(bits-1) - 1
	}
	return 0, 1<<bits - 1
}

func numericType(id, name string, s scaled) *Type {
	return &Type{
		ID: id, Name: name, Size: s.bytes,
		JSON:   "number " + rangeText(s.min, s.max, s.unit),
		encode: func(t *Type, v any) ([]byte, error) { return s.encode(t, v) },
		decode: func(t *Type, b []byte) (any, error) { return s.decode(t, b) },
	}
}

func (s scaled) encode(t *Type, v any) ([]byte, error) {
	f, text, err := t.asNumber(v)
	if err != nil {
		return nil, err
	}
	if f < s.min || f > s.max {
		return nil, t.rangeError(text, rangeText(s.min, s.max, s.unit))
	}
	var raw float64
	if s.mul == 1 && s.div == 1 {
		if f != math.Trunc(f) {
			return nil, t.errorf("%s is not a whole number (range %s)", text, rangeText(s.min, s.max, s.unit))
		}
		raw = f
	} else {
		raw = math.Round(f * s.div / s.mul)
	}
	lo, hi := s.rawRange()
	if raw < float64(lo) || raw > float64(hi) {
		return nil, t.rangeError(text, rangeText(s.min, s.max, s.unit))
	}
	out := make([]byte, s.bytes)
	u := uint64(int64(raw))
	for i := s.bytes - 1; i >= 0; i-- {
		out[i] = byte(u)
		u >>= 8
	}
	return out, nil
}

func (s scaled) decode(t *Type, b []byte) (any, error) {
	var u uint64
	for _, x := range b {
		u = u<<8 | uint64(x)
	}
	raw := int64(u)
	if s.signed {
		shift := uint(64 - 8*s.bytes)
		raw = int64(u<<shift) >> shift
	}
	f := float64(raw) * s.mul / s.div
	if f < s.min-1e-9 || f > s.max+1e-9 {
		return nil, t.errorf("data % X decodes to %s, outside range %s", b, formatNumber(f), rangeText(s.min, s.max, s.unit))
	}
	return number(f, s.decimals), nil
}

// float16 is DPT 9: 0.01*M*2^E with a 12-bit two's complement mantissa M and a
// 4-bit exponent E, laid out MEEEEMMM MMMMMMMM.
type float16 struct {
	min, max float64
	unit     string
}

// Encodable limits of DPT 9 and its "invalid data" marker.
const (
	float16Min     = -671088.64
	float16Max     = 670760.96
	float16Invalid = 0x7FFF
)

func float16Type(id, name string, f float16) *Type {
	return &Type{
		ID: id, Name: name, Size: 2,
		JSON:   "number " + rangeText(f.min, f.max, f.unit),
		encode: f.encode,
		decode: f.decode,
	}
}

func (f float16) encode(t *Type, v any) ([]byte, error) {
	x, text, err := t.asNumber(v)
	if err != nil {
		return nil, err
	}
	if x < f.min || x > f.max {
		return nil, t.rangeError(text, rangeText(f.min, f.max, f.unit))
	}
	cents := math.Round(x * 100)
	for e := 0; e < 16; e++ {
		m := math.Round(cents / float64(int(1)<<e))
		if m >= -2048 && m <= 2047 {
			mi := int(m)
			raw := uint16(e)<<11 | uint16(mi&0x7FF)
			if mi < 0 {
				raw |= 0x8000
			}
			if raw == float16Invalid {
				// 0x7FFF marks invalid data: the largest values round to the
				// nearest valid encoding instead.
				raw--
			}
			return binary.BigEndian.AppendUint16(nil, raw), nil
		}
	}
	return nil, t.rangeError(text, rangeText(f.min, f.max, f.unit))
}

func (f float16) decode(t *Type, b []byte) (any, error) {
	raw := binary.BigEndian.Uint16(b)
	if raw == float16Invalid {
		return nil, t.errorf("data 7F FF marks an invalid value")
	}
	m := int(raw & 0x7FF)
	if raw&0x8000 != 0 {
		m -= 2048
	}
	e := uint(raw>>11) & 0xF
	x := float64(m<<e) / 100
	if x < f.min || x > f.max {
		return nil, t.errorf("data % X decodes to %s, outside range %s", b, formatNumber(x), rangeText(f.min, f.max, f.unit))
	}
	return number(x, 2), nil
}

// float32Type is DPT 14: an IEEE 754 single-precision float, big-endian.
func float32Type(id, name string) *Type {
	return &Type{
		ID: id, Name: name, Size: 4,
		JSON: "number (IEEE 754 single precision, ±3.4e38)",
		encode: func(t *Type, v any) ([]byte, error) {
			x, text, err := t.asNumber(v)
			if err != nil {
				return nil, err
			}
			if math.Abs(x) > math.MaxFloat32 {
				return nil, t.rangeError(text, "±3.4028235e+38")
			}
			return binary.BigEndian.AppendUint32(nil, math.Float32bits(float32(x))), nil
		},
		decode: func(t *Type, b []byte) (any, error) {
			x := math.Float32frombits(binary.BigEndian.Uint32(b))
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, t.errorf("data % X is not a finite number", b)
			}
			return json.Number(formatFloat32(x)), nil
		},
	}
}
