package knxnet

import (
	"bytes"
	"reflect"
	"testing"
)

func TestGroupAPDU(t *testing.T) {
	cases := []struct {
		name string
		apdu APDU
		hex  string
	}{
		{"read", APDU{Command: GroupValueRead}, "00 00"},
		{"write short 1", APDU{Command: GroupValueWrite, Data: []byte{1}, Short: true}, "00 81"},
		{"write short 63", APDU{Command: GroupValueWrite, Data: []byte{0x3F}, Short: true}, "00 BF"},
		{"response short 0", APDU{Command: GroupValueResponse, Data: []byte{0}, Short: true}, "00 40"},
		{"write one octet", APDU{Command: GroupValueWrite, Data: []byte{0xFF}}, "00 80 FF"},
		{"response two octets", APDU{Command: GroupValueResponse, Data: []byte{0x0C, 0x1A}}, "00 40 0C 1A"},
		{"write 14-byte string", APDU{Command: GroupValueWrite, Data: []byte("KNX is OK\x00\x00\x00\x00\x00")},
			"00 80 4B4E5820697320 4F4B 0000000000"},
	}
	for _, c := range cases {
		want := unhex(t, c.hex)
		got, err := c.apdu.TPDU()
		if err != nil {
			t.Fatalf("%s: TPDU: %v", c.name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: TPDU = % X, want % X", c.name, got, want)
		}
		back, err := DecodeGroupAPDU(want)
		if err != nil {
			t.Fatalf("%s: DecodeGroupAPDU: %v", c.name, err)
		}
		if !reflect.DeepEqual(back, c.apdu) {
			t.Errorf("%s: DecodeGroupAPDU = %#v, want %#v", c.name, back, c.apdu)
		}
	}
}

// TestSingleOctetValue is the regression test for single-octet values: one data byte
// after the APCI octet (DPT 5, 6, 17, ...) must come back as that byte, not as 0 and
// not as the APCI's low 6 bits.
func TestSingleOctetValue(t *testing.T) {
	for _, v := range []byte{0x00, 0x01, 0x3F, 0x40, 0x80, 0xC0, 0xFF} {
		c, err := NewGroupTelegram(LDataInd, 0x1101, 0x0A03, APDU{Command: GroupValueWrite, Data: []byte{v}})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := c.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		if raw[len(raw)-4] != 2 { // NPDU length: TPCI/APCI octet + one data octet
			t.Fatalf("value 0x%02X: NPDU length %d, want 2 (% X)", v, raw[len(raw)-4], raw)
		}
		back, err := DecodeCEMI(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, apdu, err := back.GroupTelegram()
		if err != nil {
			t.Fatal(err)
		}
		if apdu.Short || len(apdu.Data) != 1 || apdu.Data[0] != v {
			t.Errorf("value 0x%02X decoded as %#v", v, apdu)
		}
	}
}

func TestCEMIWithAdditionalInfo(t *testing.T) {
	raw := unhex(t, "29 04 03 02 12 34 BC E0 1101 0A03 01 00 81")
	c, err := DecodeCEMI(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.AddInfo, []byte{3, 2, 0x12, 0x34}) || c.Source.String() != "1.1.1" || GroupAddress(c.Dest).String() != "1/2/3" {
		t.Errorf("decoded %#v", c)
	}
	back, err := c.Append(nil)
	if err != nil || !bytes.Equal(back, raw) {
		t.Errorf("re-encoded % X (%v), want % X", back, err, raw)
	}
}

func TestConfirmation(t *testing.T) {
	ok, _ := DecodeCEMI(unhex(t, "2E 00 BC E0 1101 0A03 01 00 81"))
	bad, _ := DecodeCEMI(unhex(t, "2E 00 BD E0 1101 0A03 01 00 81"))
	if ok.Failed() || !bad.Failed() {
		t.Errorf("Failed(): ok=%v bad=%v", ok.Failed(), bad.Failed())
	}
}

func TestLongTelegramIsExtendedFrame(t *testing.T) {
	c, err := NewGroupTelegram(LDataReq, 0, 1, APDU{Command: GroupValueWrite, Data: make([]byte, 20)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Control1&0x80 != 0 {
		t.Errorf("control1 0x%02X: a 20-byte value needs an extended frame", c.Control1)
	}
	if _, err := (APDU{Command: GroupValueWrite, Data: []byte{0x40}, Short: true}).TPDU(); err == nil {
		t.Error("short data 0x40 must be refused")
	}
	if _, err := (APDU{Command: GroupValueWrite}).TPDU(); err == nil {
		t.Error("a write without data must be refused")
	}
}

func TestGroupTelegramErrors(t *testing.T) {
	for name, h := range map[string]string{
		"individual destination": "29 00 BC 60 1101 1102 01 00 81",
		"not T_Data_Group":       "29 00 BC E0 1101 0A03 01 80 81",
		"TPDU of one byte":       "29 00 BC E0 1101 0A03 00 00",
	} {
		c, err := DecodeCEMI(unhex(t, h))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, _, err := c.GroupTelegram(); err == nil {
			t.Errorf("%s: GroupTelegram: want an error", name)
		}
	}
}
