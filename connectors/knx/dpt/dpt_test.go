package dpt

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustLookup(t *testing.T, id string) *Type {
	t.Helper()
	ty, err := Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

// roundTrips lists values whose encoding is exact both ways: encode(json) == data and
// decode(data) == json. Examples follow the KNX specification's datapoint tables.
var roundTrips = []struct {
	dpt, json, data string
}{
	{"1.001", "true", "01"}, {"1.001", "false", "00"}, {"1.008", "true", "01"},
	{"2.001", `{"control":true,"value":false}`, "02"}, {"2.002", `{"control":true,"value":true}`, "03"},
	{"3.007", `{"control":true,"step":3}`, "0B"}, {"3.008", `{"control":false,"step":0}`, "00"},
	{"5.001", "0", "00"}, {"5.001", "100", "FF"}, {"5.001", "50.2", "80"}, {"5.001", "20", "33"},
	{"5.003", "0", "00"}, {"5.003", "360", "FF"}, {"5.003", "180.7", "80"},
	{"5.004", "255", "FF"}, {"5.004", "1", "01"}, {"5.010", "200", "C8"}, {"5.010", "0", "00"},
	{"6.001", "-128", "80"}, {"6.001", "127", "7F"}, {"6.010", "-1", "FF"},
	{"7.001", "65535", "FF FF"}, {"7.001", "256", "01 00"}, {"7.600", "2700", "0A 8C"},
	{"7.003", "655350", "FF FF"}, {"7.004", "1500", "00 0F"},
	{"8.001", "-32768", "80 00"}, {"8.001", "32767", "7F FF"}, {"8.010", "-0.01", "FF FF"}, {"8.010", "327.67", "7F FF"},
	{"9.001", "21", "0C 1A"}, {"9.001", "-30", "8A 24"}, {"9.001", "0", "00 00"}, {"9.001", "20.47", "07 FF"},
	{"9.001", "-272.96", "A1 56"}, {"9.001", "0.01", "00 01"}, {"9.001", "-0.01", "87 FF"},
	{"9", "-671088.64", "F8 00"}, {"9", "670433.28", "7F FE"},
	{"10.001", `{"day":1,"hour":12,"minute":30,"second":5}`, "2C 1E 05"},
	{"10.001", `{"day":0,"hour":23,"minute":59,"second":59}`, "17 3B 3B"},
	{"11.001", `"2026-11-27"`, "1B 0B 1A"}, {"11.001", `"1990-01-01"`, "01 01 5A"}, {"11.001", `"2089-12-31"`, "1F 0C 59"},
	{"12.001", "4294967295", "FF FF FF FF"}, {"12.001", "1", "00 00 00 01"},
	{"13.001", "-2147483648", "80 00 00 00"}, {"13.010", "-1", "FF FF FF FF"}, {"13.002", "1.5", "00 00 3A 98"},
	{"14.056", "21.5", "41 AC 00 00"}, {"14.068", "-1", "BF 80 00 00"}, {"14.019", "0", "00 00 00 00"},
	{"16.000", `"KNX is OK"`, "4B 4E 58 20 69 73 20 4F 4B 00 00 00 00 00"},
	{"16.001", `"Grüße"`, "47 72 FC DF 65 00 00 00 00 00 00 00 00 00"},
	{"16.000", `""`, "00 00 00 00 00 00 00 00 00 00 00 00 00 00"},
	{"17.001", "63", "3F"}, {"17.001", "0", "00"},
	{"18.001", `{"learn":true,"scene":5}`, "85"}, {"18.001", `{"learn":false,"scene":63}`, "3F"},
	{"20.102", "1", "01"}, {"20.102", "4", "04"}, {"20", "255", "FF"},
	{"232.600", `{"b":3,"g":2,"r":1}`, "01 02 03"},
}

func TestRoundTrips(t *testing.T) {
	for _, c := range roundTrips {
		ty := mustLookup(t, c.dpt)
		want := unhex(t, c.data)
		got, err := ty.Encode([]byte(c.json))
		if err != nil {
			t.Errorf("%s Encode(%s): %v", c.dpt, c.json, err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s Encode(%s) = % X, want % X", c.dpt, c.json, got, want)
		}
		back, err := ty.Decode(want)
		if err != nil {
			t.Errorf("%s Decode(% X): %v", c.dpt, want, err)
		} else if string(back) != c.json {
			t.Errorf("%s Decode(% X) = %s, want %s", c.dpt, want, back, c.json)
		}
	}
}

// TestEncodeOnly covers inputs that encode but print differently when decoded:
// rounding to the type's resolution, alternative spellings.
func TestEncodeOnly(t *testing.T) {
	for _, c := range []struct{ dpt, json, data string }{
		{"1.001", "1", "01"}, {"1.001", "0", "00"}, {"1.001", " true ", "01"},
		{"5.001", "50", "80"}, {"5.001", "0.1", "00"}, {"5.003", "180", "80"},
		{"9.001", "21.004", "0C 1A"}, {"9.001", "-273", "A1 56"},
		{"9", "670760.96", "7F FE"}, {"9.004", "670760", "7F FE"}, {"9.001", "25.5", "0C FB"}, {"9.001", "-0.004", "00 00"},
		{"10.001", `"08:15:00"`, "08 0F 00"},
		{"20.102", `"economy"`, "03"}, {"232.600", `"#FF8000"`, "FF 80 00"},
		{"7.003", "14", "00 01"},
	} {
		got, err := mustLookup(t, c.dpt).Encode([]byte(c.json))
		if err != nil {
			t.Errorf("%s Encode(%s): %v", c.dpt, c.json, err)
		} else if want := unhex(t, c.data); !bytes.Equal(got, want) {
			t.Errorf("%s Encode(%s) = % X, want % X", c.dpt, c.json, got, want)
		}
	}
}

// TestEncodeErrors checks that bad and out-of-range values fail with a message naming
// the DPT and, for range errors, the range: values are never clamped.
func TestEncodeErrors(t *testing.T) {
	for _, c := range []struct{ dpt, json, want string }{
		{"1.001", "2", "DPT 1.001"}, {"1.001", `"on"`, "want true or false"},
		{"2.001", `{"control":true}`, `lacks key "value"`},
		{"2.001", `{"control":true,"value":false,"x":1}`, `unknown key "x"`},
		{"3.007", `{"control":true,"step":8}`, "8 is out of range 0..7"},
		{"5.001", "100.5", "DPT 5.001 (percentage (%)): 100.5 is out of range 0..100 %"},
		{"5.001", "-1", "out of range 0..100 %"},
		{"5.003", "361", "out of range 0..360 °"},
		{"5.004", "256", "out of range 0..255 %"}, {"5.010", "1.5", "not a whole number"},
		{"6.010", "128", "out of range -128..127"}, {"7.001", "65536", "out of range 0..65535"},
		{"7.001", `"12"`, "want a JSON number"},
		{"8.001", "-32769", "out of range -32768..32767"}, {"8.010", "327.68", "out of range -327.68..327.67 %"},
		{"9.001", "-273.5", "DPT 9.001 (temperature (°C)): -273.5 is out of range -273..670760 °C"},
		{"9.004", "-1", "out of range 0..670760 lx"}, {"9", "670761", "out of range -671088.64..670760.96"},
		{"10.001", `{"day":8,"hour":0,"minute":0,"second":0}`, "8 is out of range 0..7"},
		{"10.001", `"24:00:00"`, "want HH:MM:SS"},
		{"11.001", `"2090-01-01"`, "out of range 1990-01-01..2089-12-31"}, {"11.001", `"2026-02-30"`, "valid date"},
		{"12.001", "-1", "out of range 0..4294967295"}, {"13.001", "2147483648", "out of range"},
		{"14.056", "1e39", "out of range"}, {"14.056", "null", "want a JSON number, got null"},
		{"16.000", `"Grüße"`, "not in ASCII"}, {"16.001", `"fifteen chars!!"`, "longer than 14"},
		{"17.001", "64", "out of range 0..63"}, {"18.001", `{"learn":true,"scene":64}`, "out of range 0..63"},
		{"20.102", "5", "out of range 0..4"}, {"20.102", `"party"`, "not one of"},
		{"232.600", `{"r":256,"g":0,"b":0}`, "out of range 0..255"}, {"232.600", `"#GG0000"`, "hex digits"},
		{"9.001", "21 22", "more than one JSON value"}, {"9.001", "", "not a JSON value"},
	} {
		_, err := mustLookup(t, c.dpt).Encode([]byte(c.json))
		if err == nil {
			t.Errorf("%s Encode(%s): want an error", c.dpt, c.json)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "DPT "+c.dpt) {
			t.Errorf("%s Encode(%s) error %q: want it to name the DPT and contain %q", c.dpt, c.json, err, c.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct{ dpt, data, want string }{
		{"1.001", "02", "does not fit 1 bit"}, {"9.001", "0C", "want 2 data byte(s), got 1"},
		{"9.001", "7F FF", "invalid value"}, {"9.001", "F8 00", "outside range -273..670760 °C"},
		{"5.001", "00 01", "want 1 data byte(s)"}, {"14.056", "7F C0 00 00", "not a finite number"},
		{"10.001", "18 00 00", "not a valid time"}, {"11.001", "1F 02 1A", "not a valid date"},
		{"16.000", "80", "not ASCII"}, {"20.102", "05", "out of range 0..4"}, {"18.001", "40", "reserved bit"},
	} {
		_, err := mustLookup(t, c.dpt).Decode(unhex(t, c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "DPT "+c.dpt) {
			t.Errorf("%s Decode(%s): err %v, want one naming the DPT and containing %q", c.dpt, c.data, err, c.want)
		}
	}
}

// TestSingleOctetValues is the regression test for one-byte types: every byte value
// must decode to itself (scaled), never to 0, and encode back to the same byte.
func TestSingleOctetValues(t *testing.T) {
	for _, id := range []string{"5.001", "5.003", "5.004", "5.010", "6.001", "6.010", "17.001", "20"} {
		ty := mustLookup(t, id)
		for v := 0; v < 256; v++ {
			data := []byte{byte(v)}
			j, err := ty.Decode(data)
			if err != nil {
				continue // out of the type's range (e.g. 17.001 above 63)
			}
			if v != 0 && string(j) == "0" {
				t.Fatalf("%s: byte %02X decoded as 0", id, v)
			}
			back, err := ty.Encode(j)
			if err != nil || !bytes.Equal(back, data) {
				t.Fatalf("%s: byte %02X -> %s -> % X (%v)", id, v, j, back, err)
			}
		}
	}
}

// TestFloat16AllValues decodes every DPT 9 value and checks it encodes back to a
// value that decodes the same (encodings are not unique, values are).
func TestFloat16AllValues(t *testing.T) {
	ty := mustLookup(t, "9")
	for raw := 0; raw <= 0xFFFF; raw++ {
		data := []byte{byte(raw >> 8), byte(raw)}
		j, err := ty.Decode(data)
		if err != nil {
			if raw != 0x7FFF {
				t.Fatalf("Decode(% X): %v", data, err)
			}
			continue
		}
		enc, err := ty.Encode(j)
		if err != nil {
			t.Fatalf("Encode(%s) from % X: %v", j, data, err)
		}
		again, err := ty.Decode(enc)
		if err != nil || string(again) != string(j) {
			t.Fatalf("% X -> %s -> % X -> %s (%v)", data, j, enc, again, err)
		}
	}
}

func TestLookupSpellings(t *testing.T) {
	for _, id := range []string{"9.001", "9.1", "DPT9.001", "dpt9.001", "DPST-9-1", " 9.001 "} {
		if ty, err := Lookup(id); err != nil || ty.ID != "9.001" {
			t.Errorf("Lookup(%q) = %v, %v", id, ty, err)
		}
	}
	if ty, err := Lookup("DPT-9"); err != nil || ty.ID != "9" {
		t.Errorf("Lookup(DPT-9) = %v, %v", ty, err)
	}
	for _, id := range []string{"9.999", "99.001", "", "nine", "9.", "9.-1", "DPST-9", "1.020"} {
		if _, err := Lookup(id); err == nil || !strings.Contains(err.Error(), "not a known datapoint type") {
			t.Errorf("Lookup(%q): err = %v, want unknown", id, err)
		}
	}
	if !mustLookup(t, "1.001").Short || !mustLookup(t, "3.007").Short || mustLookup(t, "5.001").Short {
		t.Error("Short must be true exactly for types of 6 bits or fewer")
	}
	if n := len(Types()); n < 100 {
		t.Errorf("Types() has %d entries", n)
	}
}
