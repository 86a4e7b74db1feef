package host

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Codec names. CodecCustom marks a link with its own serializer or deserializer.
const (
	// CodecJSON encodes values with encoding/json; it is the default.
	CodecJSON = "json"
	// CodecText encodes values as plain text. It accepts types that implement
	// encoding.TextMarshaler / encoding.TextUnmarshaler (on the pointer), and types whose
	// underlying type is string, []byte, bool, an integer or a float (numbers in Go
	// syntax, surrounding spaces ignored when decoding). For outbound links only, any
	// fmt.Stringer is accepted too.
	CodecText = "text"
	// CodecRaw passes bytes through unchanged; the record's type must have underlying
	// type []byte (json.RawMessage qualifies). Inbound payloads are copied.
	CodecRaw = "raw"
	// CodecCustom is reported for links with a WithSerializer / WithDeserializer function.
	CodecCustom = "custom"
)

// Codecs lists the codec names WithCodec accepts.
var Codecs = []string{CodecJSON, CodecText, CodecRaw}

type encodeFunc[T any] func(T) ([]byte, error)
type decodeFunc[T any] func([]byte) (T, error)

// encoderFor returns the encoder of codec name for T, or why T cannot use it.
func encoderFor[T any](name string) (encodeFunc[T], error) {
	typ := reflect.TypeFor[T]()
	switch name {
	case CodecJSON:
		return func(v T) ([]byte, error) { return json.Marshal(v) }, nil
	case CodecRaw:
		if !isBytes(typ) {
			return nil, fmt.Errorf("codec raw needs a []byte or json.RawMessage record, not %s", typ)
		}
		return func(v T) ([]byte, error) { return reflect.ValueOf(v).Bytes(), nil }, nil
	case CodecText:
		if typ.Implements(reflect.TypeFor[encoding.TextMarshaler]()) {
			return func(v T) ([]byte, error) { return any(v).(encoding.TextMarshaler).MarshalText() }, nil
		}
		if enc := textKindEncoder(typ); enc != nil {
			return func(v T) ([]byte, error) { return enc(reflect.ValueOf(v)), nil }, nil
		}
		if typ.Implements(reflect.TypeFor[fmt.Stringer]()) {
			return func(v T) ([]byte, error) { return []byte(any(v).(fmt.Stringer).String()), nil }, nil
		}
		return nil, fmt.Errorf("codec text cannot encode %s (want string, []byte, bool, a number, encoding.TextMarshaler or fmt.Stringer)", typ)
	}
	return nil, unknownCodec(name)
}

// decoderFor returns the decoder of codec name for T, or why T cannot use it.
func decoderFor[T any](name string) (decodeFunc[T], error) {
	typ := reflect.TypeFor[T]()
	switch name {
	case CodecJSON:
		return func(p []byte) (T, error) {
			var v T
			err := json.Unmarshal(p, &v)
			return v, err
		}, nil
	case CodecRaw:
		if !isBytes(typ) {
			return nil, fmt.Errorf("codec raw needs a []byte or json.RawMessage record, not %s", typ)
		}
		return func(p []byte) (T, error) {
			var v T
			reflect.ValueOf(&v).Elem().SetBytes(append([]byte(nil), p...))
			return v, nil
		}, nil
	case CodecText:
		if reflect.PointerTo(typ).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
			return func(p []byte) (T, error) {
				var v T
				err := any(&v).(encoding.TextUnmarshaler).UnmarshalText(p)
				return v, err
			}, nil
		}
		if dec := textKindDecoder(typ); dec != nil {
			return func(p []byte) (T, error) {
				var v T
				err := dec(p, reflect.ValueOf(&v).Elem())
				return v, err
			}, nil
		}
		return nil, fmt.Errorf("codec text cannot decode %s (want string, []byte, bool, a number or a type whose pointer implements encoding.TextUnmarshaler)", typ)
	}
	return nil, unknownCodec(name)
}

func unknownCodec(name string) error {
	return fmt.Errorf("unknown codec %q (want %s)", name, strings.Join(Codecs, ", "))
}

func isBytes(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8
}

// textKindEncoder formats values of t by their underlying kind, or returns nil.
func textKindEncoder(t reflect.Type) func(reflect.Value) []byte {
	switch {
	case isBytes(t):
		return func(v reflect.Value) []byte { return v.Bytes() }
	}
	switch t.Kind() {
	case reflect.String:
		return func(v reflect.Value) []byte { return []byte(v.String()) }
	case reflect.Bool:
		return func(v reflect.Value) []byte { return strconv.AppendBool(nil, v.Bool()) }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(v reflect.Value) []byte { return strconv.AppendInt(nil, v.Int(), 10) }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(v reflect.Value) []byte { return strconv.AppendUint(nil, v.Uint(), 10) }
	case reflect.Float32, reflect.Float64:
		bits := t.Bits()
		return func(v reflect.Value) []byte { return strconv.AppendFloat(nil, v.Float(), 'g', -1, bits) }
	}
	return nil
}

// textKindDecoder parses text into values of t by their underlying kind, or returns nil.
func textKindDecoder(t reflect.Type) func([]byte, reflect.Value) error {
	if isBytes(t) {
		return func(p []byte, v reflect.Value) error { v.SetBytes(append([]byte(nil), p...)); return nil }
	}
	switch t.Kind() {
	case reflect.String:
		return func(p []byte, v reflect.Value) error { v.SetString(string(p)); return nil }
	case reflect.Bool:
		return func(p []byte, v reflect.Value) error {
			b, err := strconv.ParseBool(strings.TrimSpace(string(p)))
			v.SetBool(b)
			return err
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(p []byte, v reflect.Value) error {
			n, err := strconv.ParseInt(strings.TrimSpace(string(p)), 0, t.Bits())
			v.SetInt(n)
			return err
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(p []byte, v reflect.Value) error {
			n, err := strconv.ParseUint(strings.TrimSpace(string(p)), 0, t.Bits())
			v.SetUint(n)
			return err
		}
	case reflect.Float32, reflect.Float64:
		return func(p []byte, v reflect.Value) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(string(p)), t.Bits())
			v.SetFloat(f)
			return err
		}
	}
	return nil
}
