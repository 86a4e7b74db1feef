package dpt

import "testing"

func BenchmarkFloat16(b *testing.B) {
	ty, _ := Lookup("9.001")
	b.ReportAllocs()
	for b.Loop() {
		data, err := ty.Encode([]byte("21.5"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ty.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
