package control

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// appendEvent appends an event frame as one line, the same JSON encodeFrame writes
// for &Frame{T: TagEvent, ...}, without reflection: events are most of what a server
// sends. topic is the record key already quoted as JSON. data is a value from the
// database, which holds valid JSON; whitespace that would break the line is compacted.
func appendEvent(b []byte, sub, seq, lag uint64, topic []byte, data json.RawMessage) ([]byte, error) {
	b = append(b, `{"t":"event","sub":`...)
	b = strconv.AppendUint(b, sub, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	if lag > 0 {
		b = append(b, `,"lag":`...)
		b = strconv.AppendUint(b, lag, 10)
	}
	b = append(b, `,"topic":`...)
	b = append(b, topic...)
	if len(data) > 0 {
		b = append(b, `,"data":`...)
		if bytes.ContainsAny(data, "\n\r") {
			buf := bytes.NewBuffer(b)
			if err := json.Compact(buf, data); err != nil {
				return nil, err
			}
			b = buf.Bytes()
		} else {
			b = append(b, data...)
		}
	}
	return append(b, "}\n"...), nil
}

// quoteKey returns key as a JSON string.
func quoteKey(key string) []byte {
	b, _ := json.Marshal(key) // a string always encodes
	return b
}
