package knxnet

import (
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode never panics, and that whatever it accepts encodes
// again and decodes to the same frame.
func FuzzDecode(f *testing.F) {
	for _, c := range frameCases {
		f.Add(unhex(f, c.hex))
	}
	f.Add([]byte{0x06, 0x10, 0x04, 0x20, 0x00, 0x06})
	f.Add([]byte{0x06, 0x10, 0x02, 0x06, 0x00, 0x0C, 0x01, 0x00, 0x08, 0x01, 0x7F, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Decode(b)
		if err != nil {
			return
		}
		enc, err := Encode(fr)
		if err != nil {
			t.Fatalf("decoded %#v but cannot encode it: %v", fr, err)
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded % X does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(back, fr) {
			t.Fatalf("round trip changed the frame:\n%#v\n%#v", fr, back)
		}
	})
}

// FuzzDecodeCEMI checks that DecodeCEMI and GroupTelegram never panic, and that an
// accepted message encodes back to the bytes it came from.
func FuzzDecodeCEMI(f *testing.F) {
	for _, h := range []string{
		"11 00 BC E0 0000 0A03 01 00 81",
		"29 00 BC E0 1101 0A04 03 00 80 0C 1A",
		"2E 00 BD E0 1101 0A03 01 00 81",
		"29 04 03 02 12 34 BC E0 1101 0A03 01 00 81",
		"29 00 BC E0 1101 0A03 00 00",
		"29 00 BC E0 1101 0A03 FF 00",
	} {
		f.Add(unhex(f, h))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCEMI(b)
		if err != nil {
			return
		}
		_, apdu, err := c.GroupTelegram()
		if err == nil && apdu.Command <= GroupValueWrite && apdu.Command != GroupValueRead {
			if _, err := apdu.TPDU(); err != nil && len(apdu.Data) <= 253 {
				t.Fatalf("decoded APDU %#v does not encode: %v", apdu, err)
			}
		}
		enc, err := c.Append(nil)
		if err != nil {
			t.Fatalf("decoded %#v but cannot encode it: %v", c, err)
		}
		n := len(enc)
		if n > len(b) || string(enc) != string(b[:n]) {
			t.Fatalf("re-encoded % X, input % X", enc, b)
		}
	})
}
