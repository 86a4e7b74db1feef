package knxnet

import "testing"

func BenchmarkDecodeTunnellingRequest(b *testing.B) {
	raw := unhex(b, "06 10 04 20 00 17 04 01 00 00 29 00 BC E0 1101 0A04 03 00 80 0C 1A")
	b.ReportAllocs()
	for b.Loop() {
		f, err := Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := f.(*TunnellingRequest).CEMI.GroupTelegram(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeTunnellingRequest(b *testing.B) {
	c, _ := NewGroupTelegram(LDataReq, 0, 0x0A04, APDU{Command: GroupValueWrite, Data: []byte{0x0C, 0x1A}})
	f := &TunnellingRequest{Channel: 1, CEMI: c}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(f); err != nil {
			b.Fatal(err)
		}
	}
}
