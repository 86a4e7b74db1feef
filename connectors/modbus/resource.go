package modbus

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// table is one of Modbus's four data tables.
type table uint8

// The four tables, in the order of their read function codes (1, 2, 4, 3).
const (
	coil     table = iota + 1 // read/write bits
	discrete                  // read-only bits (discrete inputs)
	input                     // read-only 16-bit registers (input registers)
	holding                   // read/write 16-bit registers (holding registers)
)

var tableNames = map[string]table{"coil": coil, "discrete": discrete, "input": input, "holding": holding}

func (t table) String() string {
	switch t {
	case coil:
		return "coil"
	case discrete:
		return "discrete"
	case input:
		return "input"
	case holding:
		return "holding"
	}
	return "table?"
}

// bits reports whether the table holds bits rather than registers.
func (t table) bits() bool { return t == coil || t == discrete }

// writable reports whether a client may write the table.
func (t table) writable() bool { return t == coil || t == holding }

// Protocol limits on one request (Modbus Application Protocol v1.1b3, 6.1-6.12).
const (
	maxReadBits       = 2000 // FC 1, 2
	maxReadRegisters  = 125  // FC 3, 4
	maxWriteBits      = 1968 // FC 15
	maxWriteRegisters = 123  // FC 16
)

// resource is a parsed link resource: [UNIT/]TABLE/ADDRESS[:COUNT].
type resource struct {
	unit    uint8
	hasUnit bool // the resource names its unit; otherwise the connector's "unit" applies
	table   table
	addr    uint16
	count   int // registers or bits; 0 when the resource names none
}

// parseResource parses a link resource such as "holding/100", "3/input/0:4" or
// "coil/17". Addresses are the protocol's 0-based ones.
func parseResource(s string) (resource, error) {
	var r resource
	parts := strings.Split(s, "/")
	if len(parts) == 3 {
		u, err := strconv.ParseUint(parts[0], 10, 8)
		if err != nil {
			return r, fmt.Errorf("resource %q: unit id %q is not a number in 0..255", s, parts[0])
		}
		r.unit, r.hasUnit = uint8(u), true
		parts = parts[1:]
	}
	if len(parts) != 2 {
		return r, fmt.Errorf("resource %q: want [UNIT/]TABLE/ADDRESS[:COUNT], such as \"holding/100\" or \"3/input/0:4\"", s)
	}
	t, ok := tableNames[parts[0]]
	if !ok {
		names := []string{"coil", "discrete", "input", "holding"}
		if m := sdk.Suggest(parts[0], names); m != "" {
			return r, fmt.Errorf("resource %q: unknown table %q (did you mean %q?)", s, parts[0], m)
		}
		return r, fmt.Errorf("resource %q: unknown table %q (want coil, discrete, input or holding)", s, parts[0])
	}
	r.table = t
	addr, count, hasCount := strings.Cut(parts[1], ":")
	a, err := strconv.ParseUint(addr, 10, 16)
	if err != nil {
		return r, fmt.Errorf("resource %q: address %q is not a number in 0..65535", s, addr)
	}
	r.addr = uint16(a)
	if hasCount {
		n, err := strconv.Atoi(count)
		if err != nil || n < 1 {
			return r, fmt.Errorf("resource %q: count %q is not a positive number", s, count)
		}
		r.count = n
	}
	return r, nil
}
