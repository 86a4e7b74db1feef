package modbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// valueType is a link's "type": how registers or bits become a JSON value.
type valueType uint8

// Value types.
const (
	tBool valueType = iota + 1
	tInt16
	tUint16
	tInt32
	tUint32
	tFloat32
	tInt64
	tUint64
	tFloat64
	tString
	tRaw
)

var typeNames = []string{"bool", "int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64", "string", "raw"}

func parseType(s string) (valueType, bool) {
	for i, n := range typeNames {
		if n == s {
			return valueType(i + 1), true
		}
	}
	return 0, false
}

func (v valueType) String() string { return typeNames[v-1] }

// width is how many registers one value takes; 0 for string and raw, which take the
// link's whole count.
func (v valueType) width() int {
	switch v {
	case tBool, tInt16, tUint16:
		return 1
	case tInt32, tUint32, tFloat32:
		return 2
	case tInt64, tUint64, tFloat64:
		return 4
	}
	return 0
}

// numeric reports whether scale and offset apply.
func (v valueType) numeric() bool { return v != tBool && v != tString && v != tRaw }

func (v valueType) signed() bool { return v == tInt16 || v == tInt32 || v == tInt64 }

// errTooLarge marks a value that does not fit the registers of its link.
var errTooLarge = errors.New("too large")

// codec turns a link's registers or bits into its JSON value and back.
type codec struct {
	typ      valueType
	count    int  // registers or bits the link covers
	n        int  // values: count / width (1 for string and raw)
	wordSwap bool // word_order = "little": the least significant register first
	byteSwap bool // byte_order = "little": the low byte of each register first
	scaled   bool // scale or offset set
	scale    float64
	offset   float64
}

// decodeBits returns the JSON value of a bit link: true/false, or an array of them.
func (c *codec) decodeBits(b []bool) []byte {
	out := make([]byte, 0, 6*len(b)+2)
	if c.n > 1 {
		out = append(out, '[')
	}
	for i, v := range b {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendBool(out, v)
	}
	if c.n > 1 {
		out = append(out, ']')
	}
	return out
}

// decodeRegs returns the JSON value of a register link (the raw bytes for type raw).
func (c *codec) decodeRegs(regs []uint16) []byte {
	switch c.typ {
	case tRaw, tString:
		b := make([]byte, 0, 2*len(regs))
		for _, r := range regs {
			r = c.order(r)
			b = append(b, byte(r>>8), byte(r))
		}
		b = bytes.TrimRight(b, "\x00")
		if c.typ == tRaw {
			return b
		}
		out, _ := json.Marshal(string(b)) // invalid UTF-8 becomes U+FFFD
		return out
	}
	w := c.typ.width()
	out := make([]byte, 0, 12*c.n+2)
	if c.n > 1 {
		out = append(out, '[')
	}
	for i := 0; i < c.n; i++ {
		if i > 0 {
			out = append(out, ',')
		}
		out = c.appendValue(out, c.bitsOf(regs[i*w:(i+1)*w]))
	}
	if c.n > 1 {
		out = append(out, ']')
	}
	return out
}

// order applies byte_order to one register.
func (c *codec) order(r uint16) uint16 {
	if c.byteSwap {
		return r<<8 | r>>8
	}
	return r
}

// bitsOf joins the registers of one value into its bits, honouring word_order and
// byte_order.
func (c *codec) bitsOf(words []uint16) uint64 {
	var u uint64
	for i := range words {
		w := words[i]
		if c.wordSwap {
			w = words[len(words)-1-i]
		}
		u = u<<16 | uint64(c.order(w))
	}
	return u
}

// appendValue appends one numeric or bool value, with scale and offset applied.
func (c *codec) appendValue(out []byte, u uint64) []byte {
	var f float64
	switch c.typ {
	case tBool:
		return strconv.AppendBool(out, u != 0)
	case tInt16, tInt32, tInt64:
		i := signExtend(u, c.typ.width())
		if !c.scaled {
			return strconv.AppendInt(out, i, 10)
		}
		f = float64(i)
	case tUint16, tUint32, tUint64:
		if !c.scaled {
			return strconv.AppendUint(out, u, 10)
		}
		f = float64(u)
	case tFloat32:
		f32 := math.Float32frombits(uint32(u))
		if !c.scaled {
			return appendFloat(out, float64(f32), 32)
		}
		f = float64(f32)
	case tFloat64:
		f = math.Float64frombits(u)
		if !c.scaled {
			return appendFloat(out, f, 64)
		}
	}
	f = f*c.scale + c.offset
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(out, "null"...)
	}
	// 15 significant digits: 215 * 0.1 is 21.5, not 21.500000000000004.
	return strconv.AppendFloat(out, f, 'g', 15, 64)
}

// appendFloat appends f in the shortest form that reads back as the same float of
// its size; NaN and infinities, which JSON lacks, become null.
func appendFloat(out []byte, f float64, size int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(out, "null"...)
	}
	return strconv.AppendFloat(out, f, 'g', -1, size)
}

// signExtend reads the low width registers of u as a two's complement integer.
func signExtend(u uint64, width int) int64 {
	shift := 64 - 16*width
	return int64(u<<shift) >> shift
}

// encodeBits turns a bit link's JSON value (true/false, or an array of n of them)
// into bits.
func (c *codec) encodeBits(payload []byte) ([]bool, error) {
	vals, err := c.values(payload)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(vals))
	for i, v := range vals {
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want true or false, got %s", show(v))
		}
		out[i] = b
	}
	return out, nil
}

// encodeRegs turns a register link's payload into its registers: a JSON value (or
// an array of n), or for type raw the payload's bytes.
func (c *codec) encodeRegs(payload []byte) ([]uint16, error) {
	switch c.typ {
	case tRaw:
		return c.bytesToRegs(payload)
	case tString:
		var s string
		if err := json.Unmarshal(payload, &s); err != nil {
			return nil, fmt.Errorf("want a JSON string, got %.40q", payload)
		}
		return c.bytesToRegs([]byte(s))
	}
	vals, err := c.values(payload)
	if err != nil {
		return nil, err
	}
	w := c.typ.width()
	regs := make([]uint16, 0, c.count)
	for _, v := range vals {
		u, err := c.bitsFor(v)
		if err != nil {
			return nil, err
		}
		for i := 0; i < w; i++ {
			word := uint16(u >> (16 * (w - 1 - i)))
			if c.wordSwap {
				word = uint16(u >> (16 * i))
			}
			regs = append(regs, c.order(word))
		}
	}
	return regs, nil
}

// bytesToRegs packs b, padded with zero bytes, into the link's registers, the first
// byte the high byte of the first register (byte_order "big").
func (c *codec) bytesToRegs(b []byte) ([]uint16, error) {
	if len(b) > 2*c.count {
		return nil, fmt.Errorf("%w: %d bytes, %d registers hold %d", errTooLarge, len(b), c.count, 2*c.count)
	}
	regs := make([]uint16, c.count)
	for i, x := range b {
		if i%2 == 0 {
			regs[i/2] = uint16(x) << 8
		} else {
			regs[i/2] |= uint16(x)
		}
	}
	for i := range regs {
		regs[i] = c.order(regs[i])
	}
	return regs, nil
}

// values parses the payload as one JSON value, or an array of n when n > 1.
func (c *codec) values(payload []byte) ([]any, error) {
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return nil, fmt.Errorf("want a JSON %s, got %.40q", c.shape(), payload)
	}
	if c.n == 1 {
		return []any{v}, nil
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != c.n {
		return nil, fmt.Errorf("want a JSON %s, got %.40q", c.shape(), payload)
	}
	return arr, nil
}

// shape says what JSON value the link takes, for errors.
func (c *codec) shape() string {
	one := "number"
	if c.typ == tBool {
		one = "true or false"
	}
	if c.n == 1 {
		return one
	}
	return fmt.Sprintf("array of %d values (%s)", c.n, one)
}

// bitsFor turns one JSON value into the bits of the link's type, undoing scale and
// offset; it fails when the value is not a number or does not fit.
func (c *codec) bitsFor(v any) (uint64, error) {
	if c.typ == tBool {
		b, ok := v.(bool)
		if !ok {
			return 0, fmt.Errorf("want true or false, got %s", show(v))
		}
		if b {
			return 1, nil
		}
		return 0, nil
	}
	num, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("want a number, got %s", show(v))
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return 0, fmt.Errorf("number %s: %v", num, err)
	}
	if c.scaled {
		f = (f - c.offset) / c.scale
	}
	switch c.typ {
	case tFloat32:
		if math.Abs(f) > math.MaxFloat32 {
			return 0, fmt.Errorf("%s is out of range for float32", num)
		}
		return uint64(math.Float32bits(float32(f))), nil
	case tFloat64:
		return math.Float64bits(f), nil
	}
	// Integers: exact when unscaled (int64 and uint64 beyond 2^53 parse exactly),
	// rounded to the nearest when scaled.
	if !c.scaled {
		if i, err := strconv.ParseInt(string(num), 10, 64); err == nil {
			return c.fitInt(num, float64(i), &i, nil)
		}
		if u, err := strconv.ParseUint(string(num), 10, 64); err == nil {
			return c.fitInt(num, float64(u), nil, &u)
		}
		if f != math.Trunc(f) {
			return 0, fmt.Errorf("%s is not an integer (type %s)", num, c.typ)
		}
	}
	return c.fitInt(num, math.Round(f), nil, nil)
}

// fitInt range-checks an integer value (exact as i or u when given, else f) for the
// link's type and returns its two's complement bits.
func (c *codec) fitInt(num json.Number, f float64, i *int64, u *uint64) (uint64, error) {
	bits := 16 * c.typ.width()
	// [lo, hi): exact powers of two, so 2^64 itself is out of range for uint64.
	lo, hi := 0.0, math.Ldexp(1, bits)
	if c.typ.signed() {
		lo, hi = -math.Ldexp(1, bits-1), math.Ldexp(1, bits-1)
	}
	mask := uint64(math.MaxUint64) >> (64 - bits)
	switch {
	case i != nil && c.typ == tInt64:
		return uint64(*i), nil
	case i != nil && c.typ == tUint64:
		if *i < 0 {
			break
		}
		return uint64(*i), nil
	case u != nil && c.typ == tUint64:
		return *u, nil
	case f >= lo && f < hi && i == nil && u == nil:
		if c.typ.signed() {
			return uint64(int64(f)) & mask, nil
		}
		return uint64(f) & mask, nil
	case i != nil && float64(*i) >= lo && float64(*i) < hi:
		return uint64(*i) & mask, nil
	}
	return 0, fmt.Errorf("%s is out of range for %s", num, c.typ)
}

// show prints a decoded JSON value briefly, for errors.
func show(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
