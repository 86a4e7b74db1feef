package websocket

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// field returns the JSON value at path in frame, a JSON object.
func field(frame []byte, path []string) (json.RawMessage, error) {
	cur := json.RawMessage(frame)
	for i, name := range path {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(cur, &obj); err != nil || obj == nil {
			if i == 0 {
				return nil, fmt.Errorf("frame is not a JSON object")
			}
			return nil, fmt.Errorf("%q is not a JSON object", strings.Join(path[:i], "."))
		}
		v, ok := obj[name]
		if !ok {
			return nil, fmt.Errorf("no field %q", strings.Join(path[:i+1], "."))
		}
		cur = v
	}
	return cur, nil
}

// topicOf returns the route topic of a frame: the string at path.
func topicOf(frame []byte, path []string) (string, error) {
	raw, err := field(frame, path)
	if err != nil {
		return "", err
	}
	var topic string
	if err := json.Unmarshal(raw, &topic); err != nil {
		return "", fmt.Errorf("field %q is not a string", strings.Join(path, "."))
	}
	return topic, nil
}

// payloadOf returns the value a routed frame carries: the whole frame when path is
// nil, the text of a string field, or any other field's JSON as it is.
func payloadOf(frame []byte, path []string) ([]byte, error) {
	if path == nil {
		return frame, nil
	}
	raw, err := field(frame, path)
	if err != nil {
		return nil, err
	}
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
	return raw, nil
}

// envelope wraps value for a routed connection: a JSON object with topic at route
// and value at payload. Valid JSON other than a string goes in as it is; any other
// UTF-8 text as a JSON string, so payloadOf gives back the same value.
func envelope(route []string, topic string, payload []string, value []byte) ([]byte, error) {
	var v any
	switch trimmed := bytes.TrimSpace(value); {
	case json.Valid(value) && trimmed[0] != '"':
		v = json.RawMessage(value)
	case utf8.Valid(value):
		v = string(value)
	default:
		return nil, sdk.Errorf(sdk.KindInvalidConfig, "the value is neither JSON nor UTF-8 text, so it cannot go in the JSON envelope of option %q; leave route_field unset to send it as a binary frame", optRouteField)
	}
	root := map[string]any{}
	set(root, route, topic)
	set(root, payload, v)
	return json.Marshal(root)
}

// set puts v at path in m, making the objects on the way.
func set(m map[string]any, path []string, v any) {
	for _, name := range path[:len(path)-1] {
		next, ok := m[name].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[name] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// overlap reports whether one field path is the other or lies inside it.
func overlap(a, b []string) bool {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
