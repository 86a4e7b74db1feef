package dpt

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// asNumber reads a JSON number.
func (t *Type) asNumber(v any) (float64, string, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, "", t.errorf("want a JSON number, got %s", describe(v))
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, "", t.errorf("%s is not a finite number", n)
	}
	return f, string(n), nil
}

// asInt reads a JSON number that must be a whole number in min..max.
func (t *Type) asInt(v any, min, max int64, unit string) (int64, error) {
	f, text, err := t.asNumber(v)
	if err != nil {
		return 0, err
	}
	rng := rangeText(float64(min), float64(max), unit)
	if f < float64(min) || f > float64(max) {
		return 0, t.rangeError(text, rng)
	}
	if f != math.Trunc(f) {
		return 0, t.errorf("%s is not a whole number (range %s)", text, rng)
	}
	return int64(f), nil
}

// asBool reads true/false, or the numbers 0 and 1.
func (t *Type) asBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case json.Number:
		switch string(x) {
		case "0":
			return false, nil
		case "1":
			return true, nil
		}
		return false, t.rangeError(x, "true/false (or 0/1)")
	}
	return false, t.errorf("want true or false, got %s", describe(v))
}

// asObject reads a JSON object with exactly the given keys.
func (t *Type) asObject(v any, keys ...string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, t.errorf("want a JSON object with keys %s, got %s", strings.Join(keys, ", "), describe(v))
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return nil, t.errorf("object lacks key %q (want keys %s)", k, strings.Join(keys, ", "))
		}
	}
	if len(m) != len(keys) {
		var extra []string
		for k := range m {
			if !contains(keys, k) {
				extra = append(extra, strconv.Quote(k))
			}
		}
		sort.Strings(extra)
		return nil, t.errorf("object has unknown key %s (want keys %s)", strings.Join(extra, ", "), strings.Join(keys, ", "))
	}
	return m, nil
}

// field wraps an error about one object key.
func (t *Type) field(key string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w (key %q)", err, key)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case json.Number:
		return "number " + string(x)
	case string:
		return "string " + strconv.Quote(clip([]byte(x)))
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func rangeText(min, max float64, unit string) string {
	s := formatNumber(min) + ".." + formatNumber(max)
	if unit != "" {
		s += " " + unit
	}
	return s
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// number formats f rounded to decimals places as a JSON number.
func number(f float64, decimals int) json.Number {
	p := math.Pow10(decimals)
	r := math.Round(f*p) / p
	if r == 0 {
		r = 0 // no "-0"
	}
	return json.Number(strconv.FormatFloat(r, 'f', -1, 64))
}
