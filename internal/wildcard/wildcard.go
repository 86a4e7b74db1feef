// Package wildcard matches hierarchical names against patterns that hold a one-level
// wildcard and a final rest-of-name wildcard. MQTT-style topics ("sensors/+/temp",
// "sensors/#") and record-key watch patterns ("sensors.*.temp", "sensors.#") are the
// same idea with other characters, so both use this one matcher.
package wildcard

import (
	"fmt"
	"strings"
)

// Syntax names a pattern language's characters.
type Syntax struct {
	Sep   string // between levels
	One   string // a whole level that matches exactly one level
	Rest  string // a last level that matches the parent level and everything below
	Level string // what a level is called in errors ("level", "segment")
}

// Topic is the syntax of link resources: MQTT topic filters.
var Topic = Syntax{Sep: "/", One: "+", Rest: "#", Level: "level"}

// Key is the syntax of record-key watch patterns.
var Key = Syntax{Sep: ".", One: "*", Rest: "#", Level: "segment"}

// Match reports whether name matches pattern: levels are equal, or the pattern's
// level is One, or the pattern's last level is Rest ("a/#" matches "a" and "a/b/c").
func (s Syntax) Match(pattern, name string) bool {
	for {
		p, prest, pmore := strings.Cut(pattern, s.Sep)
		if p == s.Rest && !pmore {
			return true
		}
		n, nrest, nmore := strings.Cut(name, s.Sep)
		if p != s.One && p != n {
			return false
		}
		if !pmore || !nmore {
			return pmore == nmore || (pmore && prest == s.Rest)
		}
		pattern, name = prest, nrest
	}
}

// Has reports whether pattern holds a wildcard level.
func (s Syntax) Has(pattern string) bool {
	for _, l := range strings.Split(pattern, s.Sep) {
		if l == s.One || l == s.Rest {
			return true
		}
	}
	return false
}

// Validate checks a pattern: not empty, Rest only as the last level, wildcards only
// as whole levels, and (when noEmpty) no empty level.
func (s Syntax) Validate(pattern string, noEmpty bool) error {
	if pattern == "" {
		return fmt.Errorf("empty pattern")
	}
	levels := strings.Split(pattern, s.Sep)
	for i, l := range levels {
		switch {
		case l == "" && noEmpty:
			return fmt.Errorf("pattern %q: empty %s", pattern, s.Level)
		case l == s.Rest && i != len(levels)-1:
			return fmt.Errorf("pattern %q: %q must be the last %s", pattern, s.Rest, s.Level)
		case l != s.One && l != s.Rest && strings.ContainsAny(l, s.One+s.Rest):
			return fmt.Errorf("pattern %q: wildcards must fill a whole %s", pattern, s.Level)
		}
	}
	return nil
}
