package control

import "github.com/aimdb-dev/aimdb-go/internal/wildcard"

// Match reports whether a record key matches a watch pattern. Keys and patterns are
// dot-separated; "*" matches exactly one segment and a final "#" matches the segments
// that remain (none or more), so "sensors.#" matches "sensors" and "sensors.a.b".
func Match(pattern, key string) bool { return wildcard.Key.Match(pattern, key) }

// ValidatePattern checks a watch pattern: no empty segment, "#" only last, and the
// wildcards only as whole segments.
func ValidatePattern(pattern string) error { return wildcard.Key.Validate(pattern, true) }
