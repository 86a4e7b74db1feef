package modbus_test

import (
	"testing"

	"github.com/aimdb-dev/aimdb-go/connectors/modbus/modbustest"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// TestRTU: over a socat pseudo-terminal pair, at 19200 bits/s with even parity,
// link_to writes registers and coils that modbus-serial's RTU server (another
// process) stores, and link_from reads back what the server holds.
func TestRTU(t *testing.T) {
	modbustest.Require(t, "socat")
	s := modbustest.StartRTU(t, 19200, "even")
	set(t, s, 3, "input", 7, 0x41AC, 0) // float32 21.5
	links := []sdk.LinkSpec{
		{Resource: "3/holding/10:2", Config: sdk.Config{"type": "int32"}},
		{Resource: "3/coil/4"},
	}
	routes := map[string]sdk.Config{
		"3/input/7":      {"type": "float32", "poll": "50ms"},
		"3/holding/10:2": {"type": "int32", "poll": "50ms"},
	}
	inst, b := start(t, s.URL(), sdk.Config{"timeout": "500ms"}, routes, links)
	b.waitFor(t, "3/input/7", "21.5")
	if err := publish(inst, 1, "-7"); err != nil {
		t.Fatalf("write over RTU: %v", err)
	}
	if err := publish(inst, 2, "true"); err != nil {
		t.Fatalf("write a coil over RTU: %v", err)
	}
	b.waitFor(t, "3/holding/10:2", "-7")
	eventually(t, "coil 4 of unit 3 set on the server", func() bool { return s.Registers(3, "coil", 4, 1)[0] == 1 })
	if got := s.Registers(3, "holding", 10, 2); got[0] != 0xFFFF || got[1] != 0xFFF9 {
		t.Errorf("holding 10..11 of unit 3 = %04x, want ffff fff9", got)
	}
}
