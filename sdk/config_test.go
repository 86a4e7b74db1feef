package sdk

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigGetters(t *testing.T) {
	c := Config{"qos": "1", "retain": "true", "keepalive": "30s", "bad": "x", "mode": "tunnel"}
	if n, err := c.Int("qos", 0); err != nil || n != 1 {
		t.Errorf("Int(qos) = %d, %v", n, err)
	}
	if n, err := c.Int("missing", 9); err != nil || n != 9 {
		t.Errorf("Int(missing) = %d, %v", n, err)
	}
	if b, err := c.Bool("retain", false); err != nil || !b {
		t.Errorf("Bool(retain) = %v, %v", b, err)
	}
	if d, err := c.Duration("keepalive", 0); err != nil || d != 30*time.Second {
		t.Errorf("Duration(keepalive) = %v, %v", d, err)
	}
	if v, err := c.OneOf("mode", "routing", "tunnel", "routing"); err != nil || v != "tunnel" {
		t.Errorf("OneOf(mode) = %q, %v", v, err)
	}
	for name, err := range map[string]error{
		"Int":      func() error { _, err := c.Int("bad", 0); return err }(),
		"IntIn":    func() error { _, err := c.IntIn("qos", 0, 2, 3); return err }(),
		"Bool":     func() error { _, err := c.Bool("bad", false); return err }(),
		"Duration": func() error { _, err := c.Duration("bad", 0); return err }(),
		"OneOf":    func() error { _, err := c.OneOf("bad", "", "a", "b"); return err }(),
	} {
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s on a bad value: err = %v, want invalid config", name, err)
		}
	}
	_, err := c.Int("bad", 0)
	if !strings.Contains(err.Error(), `"bad"`) || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("error %q should name the option and its value", err)
	}
}

func TestConfigUnknown(t *testing.T) {
	c := Config{"qos": "1", "qso": "2", "retian": "true"}
	err := c.Unknown("qos", "retain")
	want := []string{`unknown option "qso" (did you mean "qos"?)`, `unknown option "retian" (did you mean "retain"?)`}
	errs := Split(err)
	if len(errs) != len(want) {
		t.Fatalf("Unknown = %v, want one error per misspelt option", err)
	}
	for i, e := range errs {
		var oe *OptionError
		if !errors.As(e, &oe) || oe.Option != []string{"qso", "retian"}[i] || KindOf(e) != KindInvalidConfig || !strings.HasSuffix(e.Error(), want[i]) {
			t.Errorf("error %d = %v, want an invalid-config OptionError ending %q", i, e, want[i])
		}
	}
	if err := (Config{"colour": "red"}).Unknown("qos", "retain"); err == nil || !strings.Contains(err.Error(), `unknown option "colour" (known: qos, retain)`) {
		t.Errorf("Unknown without a close option = %v, want the known ones listed", err)
	}
	if err := (Config{"qos": "1"}).Unknown("qos"); err != nil {
		t.Fatalf("Unknown on known options = %v", err)
	}
}

// TestOptionNames lists a scope's option names in their order and no others.
func TestOptionNames(t *testing.T) {
	docs := []OptionDoc{{Name: "a", Scope: ScopeConnector}, {Name: "b", Scope: ScopeLinkTo}, {Name: "c", Scope: ScopeConnector}}
	if got := OptionNames(docs, ScopeConnector); len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Errorf("connector scope: %v", got)
	}
	if got := OptionNames(docs, ScopeLinkFrom); got != nil {
		t.Errorf("link_from scope: %v", got)
	}
}
