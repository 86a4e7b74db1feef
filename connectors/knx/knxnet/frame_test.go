package knxnet

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var endpoint = HPAI{Addr: netip.MustParseAddrPort("192.168.200.12:50100")}

// frameCases pairs frames with their encoding, checked both ways.
var frameCases = []struct {
	name  string
	frame Frame
	hex   string
}{
	{"connect request", &ConnectRequest{Control: endpoint, Data: endpoint, Layer: TunnelLinkLayer},
		"06 10 02 05 00 1A 08 01 C0A8C80C C3B4 08 01 C0A8C80C C3B4 04 04 02 00"},
	{"connect response", &ConnectResponse{Channel: 21, Status: StatusOK, Data: endpoint, Address: 0x110A},
		"06 10 02 06 00 14 15 00 08 01 C0A8C80C C3B4 04 04 11 0A"},
	{"connect response refused", &ConnectResponse{Channel: 0, Status: StatusNoMoreConnections},
		"06 10 02 06 00 08 00 24"},
	{"connectionstate request", &ConnectionStateRequest{Channel: 21, Control: endpoint},
		"06 10 02 07 00 10 15 00 08 01 C0A8C80C C3B4"},
	{"connectionstate response", &ConnectionStateResponse{Channel: 21, Status: StatusConnectionID},
		"06 10 02 08 00 08 15 21"},
	{"disconnect request (NAT)", &DisconnectRequest{Channel: 21, Control: HPAI{Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), 0)}},
		"06 10 02 09 00 10 15 00 08 01 00000000 0000"},
	{"disconnect response", &DisconnectResponse{Channel: 21},
		"06 10 02 0A 00 08 15 00"},
	{"tunnelling request: write 1 to 1/2/3", &TunnellingRequest{Channel: 1, Seq: 0, CEMI: CEMI{
		Code: LDataReq, Control1: 0xBC, Control2: 0xE0, Dest: 0x0A03, TPDU: []byte{0x00, 0x81}}},
		"06 10 04 20 00 15 04 01 00 00 11 00 BC E0 0000 0A03 01 00 81"},
	{"tunnelling ack", &TunnellingAck{Channel: 1, Seq: 7, Status: StatusOK},
		"06 10 04 21 00 0A 04 01 07 00"},
	{"routing indication: write 21.0 to 1/2/4", &RoutingIndication{CEMI: CEMI{
		Code: LDataInd, Control1: 0xBC, Control2: 0xE0, Source: 0x1101, Dest: 0x0A04, TPDU: []byte{0x00, 0x80, 0x0C, 0x1A}}},
		"06 10 05 30 00 13 29 00 BC E0 1101 0A04 03 00 80 0C 1A"},
	{"routing lost message", &RoutingLostMessage{DeviceState: 0, Lost: 5},
		"06 10 05 31 00 0A 04 00 0005"},
	{"routing busy", &RoutingBusy{DeviceState: 0, WaitTime: 100, Control: 0},
		"06 10 05 32 00 0C 06 00 0064 0000"},
}

func TestFramesEncodeDecode(t *testing.T) {
	for _, c := range frameCases {
		want := unhex(t, c.hex)
		got, err := Encode(c.frame)
		if err != nil {
			t.Fatalf("%s: Encode: %v", c.name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Encode = % X\nwant            % X", c.name, got, want)
		}
		back, err := Decode(want)
		if err != nil {
			t.Fatalf("%s: Decode: %v", c.name, err)
		}
		if !reflect.DeepEqual(back, c.frame) {
			t.Errorf("%s: Decode = %#v, want %#v", c.name, back, c.frame)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := map[string]string{
		"short header":         "06 10 02",
		"bad header length":    "07 10 02 06 00 08 15 00",
		"bad version":          "06 20 02 06 00 08 15 00",
		"length beyond packet": "06 10 02 08 00 09 15 00",
		"truncated hpai":       "06 10 02 07 00 0C 15 00 08 01 C0A8",
		"tcp hpai":             "06 10 02 07 00 10 15 00 08 02 C0A8C80C C3B4",
		"bad conn header":      "06 10 04 21 00 0A 05 01 07 00",
		"cemi too short":       "06 10 04 20 00 0C 04 01 00 00 11 00",
		"cemi tpdu truncated":  "06 10 05 30 00 11 29 00 BC E0 1101 0A04 03 00 80",
		"unknown cemi code":    "06 10 05 30 00 11 FC 00 BC E0 1101 0A04 00 00",
		"busy too short":       "06 10 05 32 00 0A 06 00 0064",
	}
	for name, h := range cases {
		if f, err := Decode(unhex(t, h)); err == nil {
			t.Errorf("%s: Decode = %#v, want an error", name, f)
		}
	}
	_, err := Decode(unhex(t, "06 10 02 01 00 0E 08 01 C0A8C80C C3B4"))
	if _, ok := err.(*UnsupportedServiceError); !ok {
		t.Errorf("SEARCH_REQUEST: err = %v, want *UnsupportedServiceError", err)
	}
}

// TestDecodeIgnoresTrailingBytes checks that bytes beyond the header's length are not read.
func TestDecodeIgnoresTrailingBytes(t *testing.T) {
	f, err := Decode(unhex(t, "06 10 04 21 00 0A 04 01 07 00 FF FF"))
	if err != nil {
		t.Fatal(err)
	}
	if ack, ok := f.(*TunnellingAck); !ok || ack.Seq != 7 {
		t.Errorf("Decode = %#v", f)
	}
}
