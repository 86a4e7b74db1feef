package mqtt

import (
	"fmt"
	"testing"
)

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		g, f string
		want bool
	}{
		{"#", "a/b", true},
		{"a/#", "a", true},
		{"a/#", "a/+/c", true},
		{"a/#", "a/#", true},
		{"a/+", "a/b", true},
		{"a/+", "a/#", false},
		{"a/+", "a/b/c", false},
		{"+/b", "a/b", true},
		{"a/b", "a/+", false},
		{"a/b", "a/b", true},
		{"a/b/#", "a", false},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
	} {
		if got := covers(tc.g, tc.f); got != tc.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tc.g, tc.f, got, tc.want)
		}
	}
}

func TestReduceFilters(t *testing.T) {
	got := reduceFilters(map[string]byte{
		"sensors/+/temp":       0,
		"sensors/kitchen/temp": 2,
		"sensors/#":            1,
		"cmd/x":                1,
		"cmd/+":                0,
		"other":                0,
	})
	want := map[string]byte{"sensors/#": 2, "cmd/+": 1, "other": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reduceFilters = %v, want %v", got, want)
	}
}
