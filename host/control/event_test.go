package control

import (
	"encoding/json"
	"testing"
)

// TestAppendEventMatchesEncodeFrame: the fast event encoder writes what json.Marshal
// of the Frame would, and never a newline inside a frame.
func TestAppendEventMatchesEncodeFrame(t *testing.T) {
	for _, c := range []struct {
		key           string
		data          string
		sub, seq, lag uint64
	}{
		{"sensors.temp", `21.5`, 1, 1, 0},
		{"a.b", `{"x":[1,2],"s":"é"}`, 7, 42, 3},
		{"a", "{\n  \"x\": 1\r\n}", 1, 2, 0},
		{`we"ird\key`, `"v"`, 3, 4, 5},
	} {
		want, err := encodeFrame(&Frame{T: TagEvent, Sub: c.sub, Seq: c.seq, Lag: c.lag, Topic: c.key, Data: json.RawMessage(c.data)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendEvent(nil, c.sub, c.seq, c.lag, quoteKey(c.key), json.RawMessage(c.data))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	data := json.RawMessage(`{"temp":21.5,"unit":"C","sensor":"hall-3"}`)
	b.Run("encodeFrame", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_, _ = encodeFrame(&Frame{T: TagEvent, Sub: 1, Seq: uint64(i), Topic: "sensors.temp", Data: data})
		}
	})
	b.Run("appendEvent", func(b *testing.B) {
		b.ReportAllocs()
		topic := quoteKey("sensors.temp")
		for i := 0; b.Loop(); i++ {
			_, _ = appendEvent(make([]byte, 0, 64+len(topic)+len(data)), 1, uint64(i), 0, topic, data)
		}
	})
}
