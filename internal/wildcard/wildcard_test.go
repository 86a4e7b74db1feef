package wildcard

import "testing"

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		s             Syntax
		pattern, name string
		want          bool
	}{
		{Topic, "sensors/temp", "sensors/temp", true},
		{Topic, "sensors/+", "sensors/temp", true},
		{Topic, "sensors/+", "sensors/a/b", false},
		{Topic, "sensors/#", "sensors", true},
		{Topic, "sensors/#", "sensors/a/b", true},
		{Topic, "#", "anything/at/all", true},
		{Topic, "+/temp", "room/temp", true},
		{Topic, "sensors/temp", "sensors", false},
		{Topic, "sensors", "sensors/temp", false},
		{Topic, "sensors.temp", "sensors.temp", true},
		{Key, "sensors.*", "sensors.temp", true},
		{Key, "sensors.#", "sensors", true},
		{Key, "sensors.#", "sensors.a.b", true},
		{Key, "sensors.*", "sensors.a.b", false},
		{Key, "a.*.c", "a.b.c", true},
		{Key, "a/b", "a/b", true},
	} {
		if got := tc.s.Match(tc.pattern, tc.name); got != tc.want {
			t.Errorf("%q Match(%q, %q) = %v, want %v", tc.s.Sep, tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestValidateAndHas(t *testing.T) {
	for _, tc := range []struct {
		s       Syntax
		pattern string
		noEmpty bool
		err     string
	}{
		{Topic, "a/+/#", false, ""},
		{Topic, "a//b", false, ""},
		{Key, "a..b", true, `pattern "a..b": empty segment`},
		{Topic, "", false, "empty pattern"},
		{Topic, "a/#/b", false, `pattern "a/#/b": "#" must be the last level`},
		{Topic, "a/b+", false, `pattern "a/b+": wildcards must fill a whole level`},
		{Key, "a.b*", true, `pattern "a.b*": wildcards must fill a whole segment`},
	} {
		err := tc.s.Validate(tc.pattern, tc.noEmpty)
		if got := ""; err != nil {
			got = err.Error()
			if got != tc.err {
				t.Errorf("Validate(%q) = %q, want %q", tc.pattern, got, tc.err)
			}
		} else if tc.err != "" {
			t.Errorf("Validate(%q) = nil, want %q", tc.pattern, tc.err)
		}
	}
	if !Topic.Has("a/+") || !Topic.Has("#") || Topic.Has("a/b") || !Key.Has("a.*") || Key.Has("a+") {
		t.Error("Has is wrong")
	}
}
