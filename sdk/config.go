package sdk

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config holds string options of a connector instance or of one link, as written in
// the configuration (for example qos = "1", retain = "true"). The getters parse a value
// and return errors that name the option, so a connector can hand them to its user as is.
type Config map[string]string

// String returns the option's value, or def when it is unset.
func (c Config) String(key, def string) string {
	if v, ok := c[key]; ok {
		return v
	}
	return def
}

// Int returns the option as an integer, or def when it is unset.
func (c Config) Int(key string, def int) (int, error) {
	v, ok := c[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, Errorf(KindInvalidConfig, "option %q: want an integer, got %q", key, v)
	}
	return n, nil
}

// IntIn is Int with an inclusive range check.
func (c Config) IntIn(key string, def, min, max int) (int, error) {
	n, err := c.Int(key, def)
	if err != nil {
		return 0, err
	}
	if n < min || n > max {
		return 0, Errorf(KindInvalidConfig, "option %q: %d is out of range %d..%d", key, n, min, max)
	}
	return n, nil
}

// Bool returns the option as a boolean ("true"/"false", "1"/"0"), or def when unset.
func (c Config) Bool(key string, def bool) (bool, error) {
	v, ok := c[key]
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, Errorf(KindInvalidConfig, "option %q: want true or false, got %q", key, v)
	}
	return b, nil
}

// Duration returns the option as a Go duration ("500ms", "2s"), or def when unset.
func (c Config) Duration(key string, def time.Duration) (time.Duration, error) {
	v, ok := c[key]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d < 0 {
		return 0, Errorf(KindInvalidConfig, "option %q: want a duration such as \"500ms\" or \"2s\", got %q", key, v)
	}
	return d, nil
}

// OneOf returns the option, or def when unset, and fails when it is not one of allowed.
func (c Config) OneOf(key, def string, allowed ...string) (string, error) {
	v := c.String(key, def)
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", Errorf(KindInvalidConfig, "option %q: %q is not one of %s", key, v, strings.Join(allowed, ", "))
}

// Keys returns the option names in sorted order.
func (c Config) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Unknown returns an error naming every option that is not in known, or nil.
func (c Config) Unknown(known ...string) error {
	var bad []string
	for _, k := range c.Keys() {
		found := false
		for _, n := range known {
			if k == n {
				found = true
				break
			}
		}
		if !found {
			bad = append(bad, strconv.Quote(k))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return Errorf(KindInvalidConfig, "unknown option %s (known: %s)", strings.Join(bad, ", "), strings.Join(known, ", "))
}

// Clone returns a copy that can be changed without touching c.
func (c Config) Clone() Config {
	out := make(Config, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}
