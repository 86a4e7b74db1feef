package modbus

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// codecFor parses a link_to of resource with options into its codec.
func codecFor(t *testing.T, resource string, opts sdk.Config) codec {
	t.Helper()
	l, err := parseLink(sdk.Outbound, resource, opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	return l.codec
}

// TestCodecRoundTrip: every type encodes to the registers the Modbus conventions
// give, and those registers decode to the same JSON value.
func TestCodecRoundTrip(t *testing.T) {
	cases := []struct {
		resource string
		opts     sdk.Config
		value    string
		regs     []uint16
	}{
		{"holding/0", sdk.Config{"type": "int16"}, "-2", []uint16{0xFFFE}},
		{"holding/0", sdk.Config{}, "65535", []uint16{0xFFFF}},
		{"holding/0", sdk.Config{"byte_order": "little"}, "4660", []uint16{0x3412}},
		{"holding/0", sdk.Config{"type": "bool"}, "true", []uint16{1}},
		{"holding/0:2", sdk.Config{"type": "int32"}, "-100000", []uint16{0xFFFE, 0x7960}},
		{"holding/0:2", sdk.Config{"type": "uint32", "word_order": "little"}, "305419896", []uint16{0x5678, 0x1234}},
		{"holding/0:2", sdk.Config{"type": "uint32", "word_order": "little", "byte_order": "little"}, "305419896", []uint16{0x7856, 0x3412}},
		{"holding/0:2", sdk.Config{"type": "float32"}, "21.5", []uint16{0x41AC, 0}},
		{"holding/0:2", sdk.Config{"type": "float32"}, "0.1", []uint16{0x3DCC, 0xCCCD}},
		{"holding/0:4", sdk.Config{"type": "float64"}, "-1.25", []uint16{0xBFF4, 0, 0, 0}},
		{"holding/0:4", sdk.Config{"type": "uint64"}, "18446744073709551615", []uint16{0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF}},
		{"holding/0:4", sdk.Config{"type": "int64", "word_order": "little"}, "-9223372036854775808", []uint16{0, 0, 0, 0x8000}},
		{"holding/0:4", sdk.Config{"type": "int16"}, "[1,-1,2,-2]", []uint16{1, 0xFFFF, 2, 0xFFFE}},
		{"holding/0", sdk.Config{"scale": "0.1"}, "21.5", []uint16{215}},
		{"holding/0", sdk.Config{"type": "int16", "scale": "0.5", "offset": "-40"}, "-42.5", []uint16{0xFFFB}},
		{"holding/0:3", sdk.Config{"type": "string"}, `"AimDB"`, []uint16{0x4169, 0x6D44, 0x4200}},
		{"holding/0:2", sdk.Config{"type": "string", "byte_order": "little"}, `"ab"`, []uint16{0x6261, 0}},
		{"holding/0:2", sdk.Config{"type": "raw"}, "\x01\x02\x03", []uint16{0x0102, 0x0300}},
	}
	for _, c := range cases {
		k := codecFor(t, c.resource, c.opts)
		regs, err := k.encodeRegs([]byte(c.value))
		if err != nil || !slices.Equal(regs, c.regs) {
			t.Errorf("%s %v: encode %s = %04x, %v; want %04x", c.resource, c.opts, c.value, regs, err, c.regs)
			continue
		}
		if got := string(k.decodeRegs(regs)); got != c.value {
			t.Errorf("%s %v: decode %04x = %s, want %s", c.resource, c.opts, regs, got, c.value)
		}
	}
	k := codecFor(t, "coil/0:3", nil)
	bits, err := k.encodeBits([]byte("[true,false,true]"))
	if err != nil || !slices.Equal(bits, []bool{true, false, true}) {
		t.Errorf("coils: %v, %v", bits, err)
	}
	if got := string(k.decodeBits(bits)); got != "[true,false,true]" {
		t.Errorf("coils decode: %s", got)
	}
}

// TestCodecRefuses: values that are not of the type or do not fit are refused.
func TestCodecRefuses(t *testing.T) {
	cases := []struct {
		resource string
		opts     sdk.Config
		value    string
	}{
		{"holding/0", sdk.Config{"type": "int16"}, "32768"},
		{"holding/0", sdk.Config{"type": "int16"}, "-32769"},
		{"holding/0", sdk.Config{}, "-1"},
		{"holding/0", sdk.Config{}, "1.5"},
		{"holding/0", sdk.Config{}, `"1"`},
		{"holding/0", sdk.Config{}, "1 2"},
		{"holding/0:4", sdk.Config{"type": "uint64"}, "18446744073709551616"},
		{"holding/0:2", sdk.Config{"type": "float32"}, "1e39"},
		{"holding/0:2", sdk.Config{"type": "string"}, `"AimDB"`},
		{"holding/0:2", sdk.Config{"type": "string"}, "AimDB"},
		{"holding/0:2", sdk.Config{"type": "raw"}, "12345"},
		{"holding/0:2", sdk.Config{}, "[1]"},
		{"holding/0", sdk.Config{"type": "bool"}, "1"},
	}
	for _, c := range cases {
		k := codecFor(t, c.resource, c.opts)
		if regs, err := k.encodeRegs([]byte(c.value)); err == nil {
			t.Errorf("%s %v: %s encoded to %04x; want an error", c.resource, c.opts, c.value, regs)
		}
	}
}

// TestCodecDecodeSpecials: NaN and infinities become null; scaled values are rounded
// to 15 significant digits.
func TestCodecDecodeSpecials(t *testing.T) {
	k := codecFor(t, "holding/0:2", sdk.Config{"type": "float32"})
	if got := string(k.decodeRegs([]uint16{0x7FC0, 0})); got != "null" {
		t.Errorf("NaN: %s", got)
	}
	k = codecFor(t, "holding/0", sdk.Config{"scale": "0.1"})
	if got := string(k.decodeRegs([]uint16{3})); got != "0.3" {
		t.Errorf("3 * 0.1: %s", got)
	}
}

// TestPlanMergesNeighbours: links of one unit, table and poll interval that touch or
// overlap share a request, up to the protocol's limit; anything else does not.
func TestPlanMergesNeighbours(t *testing.T) {
	var links []*pollLink
	add := func(res string, opts sdk.Config) {
		l, err := parseLink(sdk.Inbound, res, opts, 1)
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, &pollLink{resource: res, link: l})
	}
	for a := 0; a < 50; a++ {
		add("holding/"+itoa(a), nil)
	}
	add("holding/10:4", sdk.Config{"type": "float32"}) // overlaps
	add("holding/51", nil)                             // a gap of one
	add("2/holding/0", nil)                            // another unit
	add("coil/0:2000", nil)                            // the most bits
	add("coil/2000", nil)                              // one more: a second request
	add("holding/0", sdk.Config{"poll": "5s"})         // another interval
	add("input/100:125", nil)
	add("input/225", nil)
	p := plan(links)
	var got []string
	for _, interval := range []time.Duration{time.Second, 5 * time.Second} {
		for _, r := range p[interval] {
			got = append(got, interval.String()+" "+r.table.String()+"/"+itoa(int(r.addr))+":"+itoa(r.count)+" unit "+itoa(int(r.unit))+" links "+itoa(len(r.links)))
		}
	}
	want := []string{
		"1s coil/0:2000 unit 1 links 1",
		"1s coil/2000:1 unit 1 links 1",
		"1s input/100:125 unit 1 links 1",
		"1s input/225:1 unit 1 links 1",
		"1s holding/0:50 unit 1 links 51",
		"1s holding/51:1 unit 1 links 1",
		"1s holding/0:1 unit 2 links 1",
		"5s holding/0:1 unit 1 links 1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("plan:\n%q\nwant\n%q", got, want)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSerialDefaults: an RTU URL defaults to 19200 bit/s, 8 data bits, and the stop
// bits the Modbus serial line specification asks for: 2 without parity, 1 with.
func TestSerialDefaults(t *testing.T) {
	cases := []struct {
		url                      string
		baud, parity, data, stop uint
	}{
		{"modbus+rtu:///dev/ttyUSB0", 19200, 0, 8, 2},
		{"modbus+rtu:///dev/ttyUSB0?parity=E", 19200, 1, 8, 1},
		{"modbus+rtu:///dev/ttyS1?baud=9600&parity=odd&stop_bits=2&data_bits=7", 9600, 2, 7, 2},
	}
	for _, c := range cases {
		s, err := parseSettings(sdk.MustParseURL(c.url), nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.baud != c.baud || s.parity != c.parity || s.dataBits != c.data || s.stopBits != c.stop || !s.rtu {
			t.Errorf("%s: baud %d parity %d data %d stop %d, want %d %d %d %d", c.url, s.baud, s.parity, s.dataBits, s.stopBits, c.baud, c.parity, c.data, c.stop)
		}
	}
	s, err := parseSettings(sdk.MustParseURL("modbus://plc"), nil)
	if err != nil || s.clientURL != "tcp://plc:502" || s.unit != 1 || s.timeout != time.Second {
		t.Errorf("modbus://plc: %+v, %v", s, err)
	}
}
