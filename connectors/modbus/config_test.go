package modbus_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aimdb-dev/aimdb-go/connectors/modbus"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// finding is one mistake as aimdb check places it: link id (0: the connector),
// option ("" for the link or instance as a whole), and a piece of its text.
type finding struct {
	link   uint32
	option string
	text   string
}

// findings splits ValidateConfig's error into what aimdb check places.
func findings(err error) []finding {
	var out []finding
	for _, leaf := range sdk.Split(err) {
		f := finding{text: leaf.Error()}
		var oe *sdk.OptionError
		if errors.As(leaf, &oe) {
			f.option = oe.Option
			if oe.Link != nil {
				f.link = oe.Link.ID
			}
		}
		out = append(out, f)
	}
	return out
}

// TestValidateConfigPlacesEveryMistake: every bad URL, option and link is reported
// at once, each tied to its option and link, with what is wrong in its text.
func TestValidateConfigPlacesEveryMistake(t *testing.T) {
	b := modbus.NewBuilder().(sdk.ConfigValidator)
	cases := []struct {
		name  string
		url   string
		opts  sdk.Config
		links []sdk.LinkSpec
		want  []finding
	}{
		{"good", "modbus://127.0.0.1:502", sdk.Config{"unit": "3", "timeout": "250ms"}, []sdk.LinkSpec{
			{ID: 1, Direction: sdk.Inbound, Resource: "holding/0:4", Config: sdk.Config{"type": "float32", "word_order": "little", "poll": "100ms"}},
			{ID: 2, Direction: sdk.Outbound, Resource: "7/coil/3"},
			{ID: 3, Direction: sdk.Inbound, Resource: "input/9:6", Config: sdk.Config{"type": "string", "byte_order": "little"}},
		}, nil},
		{"rtu", "modbus+rtu:///dev/ttyUSB0?baud=9600&parity=E", nil, nil, nil},
		{"url", "modbus+rtu:///dev/ttyUSB0?baud=fast&parity=X&stop=1", nil, nil, []finding{
			{0, "url", `baud="fast"`}, {0, "url", `parity="X"`}, {0, "url", `unknown option "stop" (known: baud, data_bits, parity, stop_bits)`},
		}},
		{"tcp url with query", "modbus://plc?baud=9600", nil, nil, []finding{{0, "url", "query parameters are for modbus+rtu"}}},
		{"rtu without device", "modbus+rtu://plc:502", nil, nil, []finding{{0, "url", "three slashes"}}},
		{"connector options", "modbus://plc", sdk.Config{"unit": "300", "timeout": "soon", "reconnect_min": "2s", "reconnect_max": "1s", "retries": "3"}, nil, []finding{
			{0, "retries", "unknown option"}, {0, "unit", "out of range 0..255"}, {0, "timeout", "want a duration"}, {0, "reconnect_max", "below reconnect_min"},
		}},
		{"links", "modbus://plc", nil, []sdk.LinkSpec{
			{ID: 1, Direction: sdk.Inbound, Resource: "holdings/0"},
			{ID: 2, Direction: sdk.Outbound, Resource: "input/0"},
			{ID: 3, Direction: sdk.Inbound, Resource: "holding/0", Config: sdk.Config{"type": "float"}},
			{ID: 4, Direction: sdk.Inbound, Resource: "holding/0:3", Config: sdk.Config{"type": "int32"}},
			{ID: 5, Direction: sdk.Inbound, Resource: "holding/0", Config: sdk.Config{"type": "string"}},
			{ID: 6, Direction: sdk.Inbound, Resource: "coil/0", Config: sdk.Config{"type": "uint16"}},
			{ID: 7, Direction: sdk.Inbound, Resource: "holding/0", Config: sdk.Config{"word_order": "little", "scale": "0", "poll": "1ms", "on_change": "maybe"}},
			{ID: 8, Direction: sdk.Outbound, Resource: "holding/0:2", Config: sdk.Config{"write_function": "single", "poll": "1s"}},
			{ID: 9, Direction: sdk.Outbound, Resource: "holding/0:124", Config: sdk.Config{"type": "raw"}},
			{ID: 10, Direction: sdk.Inbound, Resource: "holding/0:126", Config: sdk.Config{"type": "raw"}},
			{ID: 11, Direction: sdk.Inbound, Resource: "300/holding/0"},
			{ID: 12, Direction: sdk.Inbound, Resource: "holding/65535:2"},
			{ID: 13, Direction: sdk.Inbound, Resource: "holding/7", Config: sdk.Config{"poll": "1s"}},
			{ID: 14, Direction: sdk.Inbound, Resource: "holding/7", Config: sdk.Config{"poll": "2s"}},
			{ID: 15, Direction: sdk.Outbound, Resource: "holding/0", Config: sdk.Config{"type": "bool", "scale": "2", "byte_order": "little"}},
		}, []finding{
			{1, "", `unknown table "holdings" (did you mean "holding"?)`},
			{2, "", "table input is read-only"},
			{3, "type", `"float" is not one of`},
			{4, "", "count 3 is not a multiple of 2"},
			{5, "", "type string needs a count of registers: write it as holding/0:COUNT"},
			{6, "type", "table coil holds bits"},
			{7, "word_order", "applies to 32- and 64-bit types"},
			{7, "scale", "must not be 0"},
			{7, "poll", "below 10ms"},
			{7, "on_change", "want true or false"},
			{8, "poll", "unknown option"},
			{9, "", "count 124 is above 123"},
			{10, "", "count 126 is above 125"},
			{11, "", `unit id "300"`},
			{12, "", "runs past 65535"},
			{14, "", "same registers with other options"},
			{15, "byte_order", "does not apply to type bool"},
			{15, "scale", "does not apply to type bool"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := sdk.ParseConnectorURL(c.url)
			if err != nil {
				t.Fatal(err)
			}
			got := findings(b.ValidateConfig(u, c.opts, c.links))
			for _, w := range c.want {
				found := false
				for _, g := range got {
					if g.link == w.link && g.option == w.option && strings.Contains(g.text, w.text) {
						found = true
					}
				}
				if !found {
					t.Errorf("no finding at link %d option %q saying %q; got:\n%s", w.link, w.option, w.text, show(got))
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("%d findings, want %d:\n%s", len(got), len(c.want), show(got))
			}
		})
	}
}

func show(fs []finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  link %d option %q: %s\n", f.link, f.option, f.text)
	}
	return b.String()
}
