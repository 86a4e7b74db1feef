package control

import (
	"fmt"
	"strings"
)

// Match reports whether a record key matches a watch pattern. Keys and patterns are
// dot-separated; "*" matches exactly one segment and a final "#" matches the segments
// that remain (none or more), so "sensors.#" matches "sensors" and "sensors.a.b".
func Match(pattern, key string) bool {
	for {
		p, prest, pmore := strings.Cut(pattern, ".")
		if p == "#" && !pmore {
			return true
		}
		k, krest, kmore := strings.Cut(key, ".")
		if p != "*" && p != k {
			return false
		}
		if !pmore || !kmore {
			return pmore == kmore || (pmore && prest == "#")
		}
		pattern, key = prest, krest
	}
}

// ValidatePattern checks a watch pattern: no empty segment, "#" only last, and the
// wildcards only as whole segments.
func ValidatePattern(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("empty pattern")
	}
	segs := strings.Split(pattern, ".")
	for i, s := range segs {
		switch {
		case s == "":
			return fmt.Errorf("pattern %q: empty segment", pattern)
		case s == "#" && i != len(segs)-1:
			return fmt.Errorf("pattern %q: \"#\" must be the last segment", pattern)
		case s != "*" && s != "#" && strings.ContainsAny(s, "*#"):
			return fmt.Errorf("pattern %q: wildcards must fill a whole segment", pattern)
		}
	}
	return nil
}
