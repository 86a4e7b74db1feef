package host

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

type level int

func (l level) String() string { return strings.Repeat("*", int(l)) }

type celsius float32

func roundTrip[T any](t *testing.T, codec string, v T, wantText string) {
	t.Helper()
	enc, err := encoderFor[T](codec)
	if err != nil {
		t.Fatalf("%s encoder for %T: %v", codec, v, err)
	}
	p, err := enc(v)
	if err != nil || string(p) != wantText {
		t.Fatalf("%s encode %v: %q %v, want %q", codec, v, p, err, wantText)
	}
	dec, err := decoderFor[T](codec)
	if err != nil {
		t.Fatalf("%s decoder for %T: %v", codec, v, err)
	}
	got, err := dec(p)
	if err != nil {
		t.Fatalf("%s decode %q: %v", codec, p, err)
	}
	if enc2, _ := enc(got); string(enc2) != wantText {
		t.Fatalf("%s round trip of %v gave %v", codec, v, got)
	}
}

func TestCodecs(t *testing.T) {
	roundTrip(t, "json", Temperature{1.5}, `{"celsius":1.5}`)
	roundTrip(t, "text", "hello", "hello")
	roundTrip(t, "text", []byte("bytes"), "bytes")
	roundTrip(t, "text", 42, "42")
	roundTrip(t, "text", uint8(7), "7")
	roundTrip(t, "text", true, "true")
	roundTrip(t, "text", celsius(21.5), "21.5")
	roundTrip(t, "text", 0.1, "0.1")
	roundTrip(t, "text", netip.MustParseAddr("127.0.0.1"), "127.0.0.1") // TextMarshaler
	roundTrip(t, "text", time.Duration(1500), "1500")                   // int kind wins over Stringer
	roundTrip(t, "raw", []byte{0, 1, 255}, "\x00\x01\xff")

	// A Stringer encodes but cannot decode.
	enc, err := encoderFor[struct{ level }]("text")
	if err != nil {
		t.Fatalf("Stringer encoder: %v", err)
	}
	if p, _ := enc(struct{ level }{3}); string(p) != "***" {
		t.Fatalf("Stringer text: %q", p)
	}
	if _, err := decoderFor[struct{ level }]("text"); err == nil || !strings.Contains(err.Error(), "cannot decode") {
		t.Fatalf("Stringer decoder: %v", err)
	}
	if _, err := encoderFor[Temperature]("text"); err == nil {
		t.Fatal("text encoder accepted a struct")
	}
	if _, err := decoderFor[string]("raw"); err == nil {
		t.Fatal("raw decoder accepted a string record")
	}
	if _, err := encoderFor[int]("xml"); err == nil || !strings.Contains(err.Error(), `unknown codec "xml" (want json, text, raw)`) {
		t.Fatalf("unknown codec: %v", err)
	}
	dec, _ := decoderFor[uint8]("text")
	if _, err := dec([]byte("300")); err == nil {
		t.Fatal("text decoded 300 into uint8")
	}
	jdec, _ := decoderFor[Temperature]("json")
	if _, err := jdec([]byte("{")); err == nil || errors.Is(err, ErrInvalidValue) {
		t.Fatalf("json decode of bad input: %v", err)
	}
}
