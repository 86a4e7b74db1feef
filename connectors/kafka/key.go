package kafka

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// parseFieldPath splits a key_field such as "id" or "device.id" into its JSON path.
func parseFieldPath(field string) ([]string, error) {
	parts := strings.Split(field, ".")
	for _, p := range parts {
		if p == "" {
			return nil, sdk.OptionErrorf(sdk.KindInvalidConfig, optKeyField, "%q is not a field path (want \"id\" or \"device.id\")", field)
		}
	}
	return parts, nil
}

// keyOf returns the record key for payload: the fixed key, the text of the key_field
// in the JSON value (strings as is, numbers and booleans as written), or nil.
func (k keySettings) keyOf(payload []byte) ([]byte, error) {
	if k.field == nil {
		if k.key == "" {
			return nil, nil
		}
		return []byte(k.key), nil
	}
	raw := json.RawMessage(payload)
	for i, name := range k.field {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			return nil, sdk.Errorf(sdk.KindInvalidConfig, "key_field %q: %s is not a JSON object", k.fieldRaw, describePath(k.field[:i]))
		}
		v, ok := obj[name]
		if !ok {
			return nil, sdk.Errorf(sdk.KindInvalidConfig, "key_field %q: the value has no field %q", k.fieldRaw, strings.Join(k.field[:i+1], "."))
		}
		raw = v
	}
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, sdk.Errorf(sdk.KindInvalidConfig, "key_field %q: the field is null", k.fieldRaw)
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, sdk.Errorf(sdk.KindInvalidConfig, "key_field %q: %v", k.fieldRaw, err)
		}
		return []byte(s), nil
	case raw[0] == '{' || raw[0] == '[':
		return nil, sdk.Errorf(sdk.KindInvalidConfig, "key_field %q: the field is an object or array, want a string, number or boolean", k.fieldRaw)
	}
	return append([]byte(nil), raw...), nil
}

func describePath(p []string) string {
	if len(p) == 0 {
		return "the value"
	}
	return "field " + strings.Join(p, ".")
}
