package sdk

import (
	"errors"
	"fmt"
	"slices"
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
		return 0, OptionErrorf(KindInvalidConfig, key, "want an integer, got %q", v)
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
		return 0, OptionErrorf(KindInvalidConfig, key, "%d is out of range %d..%d", n, min, max)
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
		return false, OptionErrorf(KindInvalidConfig, key, "want true or false, got %q", v)
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
		return 0, OptionErrorf(KindInvalidConfig, key, "want a duration such as \"500ms\" or \"2s\", got %q", v)
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
	return "", OptionErrorf(KindInvalidConfig, key, "%q is not one of %s", v, strings.Join(allowed, ", "))
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

// Unknown returns one invalid-config error for every option that is not in known,
// joined, each an OptionError that names the closest known option ("did you mean"),
// or nil when every option is known.
func (c Config) Unknown(known ...string) error {
	var errs []error
	for _, k := range c.Keys() {
		if !slices.Contains(known, k) {
			errs = append(errs, &Error{Kind: KindInvalidConfig, Err: &OptionError{Option: k, Err: UnknownOption(k, known)}})
		}
	}
	return errors.Join(errs...)
}

// UnknownOption says that option name is not one of known, with the closest known one
// ("did you mean") or, when none is close, the list of known options.
func UnknownOption(name string, known []string) error {
	if s := Suggest(name, known); s != "" {
		return fmt.Errorf("unknown option %q (did you mean %q?)", name, s)
	}
	if len(known) == 0 {
		return fmt.Errorf("unknown option %q (this connector takes no options here)", name)
	}
	sorted := slices.Sorted(slices.Values(known))
	return fmt.Errorf("unknown option %q (known: %s)", name, strings.Join(slices.Compact(sorted), ", "))
}

// EnvNames returns the environment variables the options name: the values of the
// options whose name ends in "_env" (password_env = "MQTT_PASS"), sorted, without
// duplicates. The host passes exactly these variables (and a few harmless ones such
// as PATH) to a plugin process, so a connector reads a secret with os.Getenv from the
// variable an "_env" option names, never from one it picks itself.
func (c Config) EnvNames() []string {
	var names []string
	for k, v := range c {
		if v = strings.TrimSpace(v); strings.HasSuffix(k, "_env") && v != "" {
			names = append(names, v)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Clone returns a copy that can be changed without touching c.
func (c Config) Clone() Config {
	out := make(Config, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}
