// Package knxnet encodes and decodes KNXnet/IP frames (tunnelling and routing), the
// cEMI messages they carry, group telegrams (GroupValueRead/Response/Write) and KNX
// addresses. It does no I/O: the connector owns the sockets.
package knxnet

import (
	"fmt"
	"strconv"
	"strings"
)

// GroupAddress is a 16-bit KNX group address.
type GroupAddress uint16

// Notation is the way a group address is written.
type Notation uint8

// Group address notations.
const (
	ThreeLevel Notation = iota // main/middle/sub: 0..31/0..7/0..255 ("1/2/3")
	TwoLevel                   // main/sub: 0..31/0..2047 ("1/515")
	Free                       // one number 0..65535 ("2563")
)

// String names the notation.
func (n Notation) String() string {
	switch n {
	case ThreeLevel:
		return "3-level"
	case TwoLevel:
		return "2-level"
	case Free:
		return "free"
	}
	return "notation(" + strconv.Itoa(int(n)) + ")"
}

// NotationOf returns the notation s is written in, judged by its number of "/"
// separators; it does not check the numbers.
func NotationOf(s string) Notation {
	switch strings.Count(s, "/") {
	case 0:
		return Free
	case 1:
		return TwoLevel
	}
	return ThreeLevel
}

// ParseGroupAddress parses a group address in 3-level ("1/2/3"), 2-level ("1/515") or
// free ("2563") notation. Numbers are plain decimal without signs, spaces or leading
// zeros, so that printing the result in the same notation gives s back.
func ParseGroupAddress(s string) (GroupAddress, error) {
	parts := strings.Split(s, "/")
	var limits []int
	switch len(parts) {
	case 1:
		limits = []int{65535}
	case 2:
		limits = []int{31, 2047}
	case 3:
		limits = []int{31, 7, 255}
	default:
		return 0, fmt.Errorf("group address %q: want main/middle/sub, main/sub or a number", s)
	}
	var v int
	for i, p := range parts {
		n, err := parseLevel(p, limits[i])
		if err != nil {
			return 0, fmt.Errorf("group address %q (%s notation): %v", s, NotationOf(s), err)
		}
		switch {
		case len(parts) == 1:
			v = n
		case i == 0:
			v = n << 11
		case len(parts) == 3 && i == 1:
			v |= n << 8
		default:
			v |= n
		}
	}
	return GroupAddress(v), nil
}

// parseLevel parses one level of an address: a canonical decimal number in 0..max.
func parseLevel(p string, max int) (int, error) {
	if p == "" {
		return 0, fmt.Errorf("empty level")
	}
	if len(p) > 1 && p[0] == '0' {
		return 0, fmt.Errorf("level %q has a leading zero", p)
	}
	for _, r := range p {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("level %q is not a decimal number", p)
		}
	}
	n, err := strconv.Atoi(p)
	if err != nil || n > max {
		return 0, fmt.Errorf("level %q is out of range 0..%d", p, max)
	}
	return n, nil
}

// Format prints the address in notation n.
func (g GroupAddress) Format(n Notation) string {
	switch n {
	case TwoLevel:
		return fmt.Sprintf("%d/%d", g>>11, g&0x7FF)
	case Free:
		return strconv.Itoa(int(g))
	}
	return fmt.Sprintf("%d/%d/%d", g>>11, (g>>8)&0x7, g&0xFF)
}

// String prints the address in 3-level notation.
func (g GroupAddress) String() string { return g.Format(ThreeLevel) }

// IndividualAddress is a 16-bit KNX device address: area.line.device.
type IndividualAddress uint16

// ParseIndividualAddress parses "area.line.device" (0..15.0..15.0..255), e.g. "1.1.10".
func ParseIndividualAddress(s string) (IndividualAddress, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return 0, fmt.Errorf("individual address %q: want area.line.device such as 1.1.10", s)
	}
	limits := []int{15, 15, 255}
	var v [3]int
	for i, p := range parts {
		n, err := parseLevel(p, limits[i])
		if err != nil {
			return 0, fmt.Errorf("individual address %q: %v", s, err)
		}
		v[i] = n
	}
	return IndividualAddress(v[0]<<12 | v[1]<<8 | v[2]), nil
}

// String prints the address as area.line.device.
func (a IndividualAddress) String() string {
	return fmt.Sprintf("%d.%d.%d", a>>12, (a>>8)&0xF, a&0xFF)
}
