package seqload

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	sent := time.Unix(1_700_000_000, 123456789)
	for _, f := range []Format{ASCII, JSON} {
		for _, size := range []int{0, 10, 30, 35, 36, 37, 40, 100, 1000} {
			for _, seq := range []uint64{0, 42, 1<<64 - 1} {
				p := Encode(f, seq, sent, size)
				if len(p) < size {
					t.Fatalf("%v size %d seq %d: %d bytes %q, want at least the size", f, size, seq, len(p), p)
				}
				if len(p) > size && size >= 60 {
					t.Fatalf("%v size %d seq %d: %d bytes %q, want exactly the size", f, size, seq, len(p), p)
				}
				gotSeq, gotT, err := Decode(p)
				if err != nil || gotSeq != seq || gotT != sent.UnixNano() {
					t.Fatalf("%v size %d: Decode(%q) = %d, %d, %v; want %d, %d", f, size, p, gotSeq, gotT, err, seq, sent.UnixNano())
				}
				if f == JSON && !json.Valid(p) {
					t.Fatalf("size %d: %q is not valid JSON", size, p)
				}
			}
		}
	}
}

func TestEncodeExactSizeAndForm(t *testing.T) {
	sent := time.Unix(0, 1234)
	if got := string(Encode(ASCII, 42, sent, 16)); got != "42,1234,xxxxxxxx" {
		t.Errorf("ASCII = %q", got)
	}
	if got := string(Encode(JSON, 42, sent, 0)); got != `{"s":42,"t":1234}` {
		t.Errorf("JSON unpadded = %q", got)
	}
	if got := string(Encode(JSON, 42, sent, 28)); got != `{"s":42,"t":1234,"p":"xxxx"}` || len(got) != 28 {
		t.Errorf("JSON padded = %q (%d bytes)", got, len(got))
	}
	if got := string(Encode(JSON, 42, sent, 20)); got != `{"s":42,"t":1234   }` {
		t.Errorf("JSON space-padded = %q", got)
	}
}

func TestDecodeReserializedJSON(t *testing.T) {
	var v map[string]any
	p := Encode(JSON, 7, time.Unix(0, 99), 64)
	if err := json.Unmarshal(p, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.MarshalIndent(v, "", "  ") // keys sorted, whitespace added
	seq, ts, err := Decode(out)
	if err != nil || seq != 7 || ts != 99 {
		t.Fatalf("Decode(%s) = %d, %d, %v", out, seq, ts, err)
	}
}

func TestDecodeRejectsForeignPayloads(t *testing.T) {
	for _, p := range []string{"", "hello", "12", "12,", "12,x", "a,1,", `{"s":1}`, `{"t":1}`,
		`{"s":"1","t":2}`, "99999999999999999999999,1,", "1,99999999999999999999,"} {
		if _, _, err := Decode([]byte(p)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%q) error = %v, want ErrMalformed", p, err)
		}
	}
	// Trailing text a bridge may add (a newline) is accepted.
	if seq, _, err := Decode([]byte("5,6,xx\n")); err != nil || seq != 5 {
		t.Errorf("Decode with newline = %d, %v", seq, err)
	}
	if seq, _, err := Decode([]byte("5,6")); err != nil || seq != 5 {
		t.Errorf("Decode without padding = %d, %v", seq, err)
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range []Format{ASCII, JSON} {
		got, err := ParseFormat(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f.String(), got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), "xml") {
		t.Errorf("ParseFormat(xml) error = %v", err)
	}
}
