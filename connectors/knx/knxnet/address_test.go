package knxnet

import "testing"

func TestGroupAddressRoundTrip(t *testing.T) {
	cases := []struct {
		text string
		want GroupAddress
		n    Notation
	}{
		{"1/2/3", 0x0A03, ThreeLevel},
		{"0/0/1", 0x0001, ThreeLevel},
		{"31/7/255", 0xFFFF, ThreeLevel},
		{"1/2047", 0x0FFF, TwoLevel},
		{"1/515", 0x0A03, TwoLevel},
		{"31/2047", 0xFFFF, TwoLevel},
		{"4097", 0x1001, Free},
		{"2563", 0x0A03, Free},
		{"0", 0, Free},
		{"65535", 0xFFFF, Free},
	}
	for _, c := range cases {
		got, err := ParseGroupAddress(c.text)
		if err != nil {
			t.Fatalf("ParseGroupAddress(%q): %v", c.text, err)
		}
		if got != c.want {
			t.Errorf("ParseGroupAddress(%q) = 0x%04X, want 0x%04X", c.text, uint16(got), uint16(c.want))
		}
		if n := NotationOf(c.text); n != c.n {
			t.Errorf("NotationOf(%q) = %s, want %s", c.text, n, c.n)
		}
		if back := got.Format(c.n); back != c.text {
			t.Errorf("Format(%s) of %q = %q", c.n, c.text, back)
		}
	}
	if s := GroupAddress(0x0A03).String(); s != "1/2/3" {
		t.Errorf("String() = %q, want 1/2/3", s)
	}
}

// TestGroupAddressErrors also pins that 2-level sub groups stop at 2047 (11 bits):
// "1/2051" is out of range.
func TestGroupAddressErrors(t *testing.T) {
	for _, s := range []string{"", "1/2/3/4", "32/0/0", "1/8/0", "1/2/256", "1/2048", "1/2051", "65536", "01/2/3", "1/+/3", "-1", " 1/2/3", "a/b/c", "1//3"} {
		if g, err := ParseGroupAddress(s); err == nil {
			t.Errorf("ParseGroupAddress(%q) = %s, want an error", s, g)
		}
	}
}

func TestIndividualAddressRoundTrip(t *testing.T) {
	for _, c := range []struct {
		text string
		want IndividualAddress
	}{{"1.1.10", 0x110A}, {"0.0.0", 0}, {"15.15.255", 0xFFFF}, {"15.15.250", 0xFFFA}} {
		got, err := ParseIndividualAddress(c.text)
		if err != nil {
			t.Fatalf("ParseIndividualAddress(%q): %v", c.text, err)
		}
		if got != c.want || got.String() != c.text {
			t.Errorf("ParseIndividualAddress(%q) = 0x%04X (%s), want 0x%04X", c.text, uint16(got), got, uint16(c.want))
		}
	}
	for _, s := range []string{"1.1", "16.0.0", "0.16.0", "0.0.256", "1.1.010", "1/1/1", ""} {
		if _, err := ParseIndividualAddress(s); err == nil {
			t.Errorf("ParseIndividualAddress(%q): want an error", s)
		}
	}
}
