package knxnet

import (
	"encoding/binary"
	"fmt"
)

// MessageCode is the first octet of a cEMI message.
type MessageCode uint8

// cEMI link-layer message codes.
const (
	LDataReq MessageCode = 0x11 // client -> gateway: send this telegram
	LDataCon MessageCode = 0x2E // gateway -> client: the telegram was sent (or failed)
	LDataInd MessageCode = 0x29 // gateway -> client: a telegram from the bus
)

// String names the message code.
func (m MessageCode) String() string {
	switch m {
	case LDataReq:
		return "L_Data.req"
	case LDataCon:
		return "L_Data.con"
	case LDataInd:
		return "L_Data.ind"
	}
	return fmt.Sprintf("cEMI message code 0x%02X", uint8(m))
}

// Control field defaults for group telegrams: a standard frame, not repeated,
// broadcast, low priority (0xBC); a group destination with hop count 6 (0xE0).
const (
	DefaultControl1 = 0xBC
	DefaultControl2 = 0xE0

	control1Standard = 0x80 // standard (not extended) frame
	control1Error    = 0x01 // in L_Data.con: the telegram was not sent
	control2Group    = 0x80 // destination is a group address
	maxStandardNPDU  = 15   // longest NPDU length of a standard frame
)

// CEMI is a cEMI L_Data message. TPDU holds the transport PDU from the TPCI octet on;
// GroupTelegram parses it for group communication.
type CEMI struct {
	Code     MessageCode
	AddInfo  []byte // additional information blocks, usually empty
	Control1 uint8
	Control2 uint8
	Source   IndividualAddress
	Dest     uint16 // a GroupAddress when IsGroup, else an IndividualAddress
	TPDU     []byte
}

// IsGroup reports whether the destination is a group address.
func (c *CEMI) IsGroup() bool { return c.Control2&control2Group != 0 }

// Failed reports whether an L_Data.con says the telegram could not be sent.
func (c *CEMI) Failed() bool { return c.Code == LDataCon && c.Control1&control1Error != 0 }

// Append appends the encoded message to b.
func (c *CEMI) Append(b []byte) ([]byte, error) {
	if len(c.AddInfo) > 255 {
		return nil, fmt.Errorf("cEMI additional info of %d bytes is longer than 255", len(c.AddInfo))
	}
	if len(c.TPDU) < 1 || len(c.TPDU) > 256 {
		return nil, fmt.Errorf("cEMI TPDU of %d bytes is not 1..256", len(c.TPDU))
	}
	b = append(b, byte(c.Code), byte(len(c.AddInfo)))
	b = append(b, c.AddInfo...)
	b = append(b, c.Control1, c.Control2)
	b = binary.BigEndian.AppendUint16(b, uint16(c.Source))
	b = binary.BigEndian.AppendUint16(b, c.Dest)
	b = append(b, byte(len(c.TPDU)-1))
	return append(b, c.TPDU...), nil
}

// DecodeCEMI parses a cEMI L_Data message (req, con or ind).
func DecodeCEMI(b []byte) (*CEMI, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("cEMI message of %d bytes is too short", len(b))
	}
	c := &CEMI{Code: MessageCode(b[0])}
	switch c.Code {
	case LDataReq, LDataCon, LDataInd:
	default:
		return nil, fmt.Errorf("unsupported %s", c.Code)
	}
	n := int(b[1])
	b = b[2:]
	if len(b) < n {
		return nil, fmt.Errorf("%s: additional info says %d bytes, %d left", c.Code, n, len(b))
	}
	if n > 0 {
		c.AddInfo = append([]byte(nil), b[:n]...)
	}
	b = b[n:]
	if len(b) < 7 {
		return nil, fmt.Errorf("%s: need 7 bytes of control fields, addresses and length, got %d", c.Code, len(b))
	}
	c.Control1, c.Control2 = b[0], b[1]
	c.Source = IndividualAddress(binary.BigEndian.Uint16(b[2:]))
	c.Dest = binary.BigEndian.Uint16(b[4:])
	l := int(b[6]) + 1
	b = b[7:]
	if len(b) < l {
		return nil, fmt.Errorf("%s: length says %d TPDU bytes, got %d", c.Code, l, len(b))
	}
	c.TPDU = append([]byte(nil), b[:l]...)
	return c, nil
}

// APCI is the 4-bit application-layer command of a group telegram.
type APCI uint8

// Group communication commands.
const (
	GroupValueRead     APCI = 0
	GroupValueResponse APCI = 1
	GroupValueWrite    APCI = 2
)

// String names the command.
func (a APCI) String() string {
	switch a {
	case GroupValueRead:
		return "GroupValueRead"
	case GroupValueResponse:
		return "GroupValueResponse"
	case GroupValueWrite:
		return "GroupValueWrite"
	}
	return fmt.Sprintf("APCI 0x%X", uint8(a))
}

// APDU is a group telegram's command and data. Short data (6 bits or fewer, as
// DPT 1, 2 and 3 use) travels inside the APCI octet; Data then holds one byte 0..63.
// Long data follows the APCI octet.
type APDU struct {
	Command APCI
	Data    []byte
	Short   bool
}

// TPDU encodes the APDU as a T_Data_Group transport PDU (TPCI octet first).
func (a APDU) TPDU() ([]byte, error) {
	if a.Command > 0xF {
		return nil, fmt.Errorf("APCI %d does not fit 4 bits", a.Command)
	}
	hi := byte(a.Command >> 2)
	lo := byte(a.Command&0x3) << 6
	switch {
	case a.Command == GroupValueRead:
		return []byte{hi, lo}, nil
	case a.Short:
		if len(a.Data) != 1 || a.Data[0] > 0x3F {
			return nil, fmt.Errorf("%s: short data must be one byte 0..63, got % X", a.Command, a.Data)
		}
		return []byte{hi, lo | a.Data[0]}, nil
	}
	if len(a.Data) == 0 {
		return nil, fmt.Errorf("%s: no data", a.Command)
	}
	if len(a.Data) > 253 {
		return nil, fmt.Errorf("%s: %d data bytes exceed 253", a.Command, len(a.Data))
	}
	return append([]byte{hi, lo}, a.Data...), nil
}

// DecodeGroupAPDU parses a T_Data_Group transport PDU.
func DecodeGroupAPDU(tpdu []byte) (APDU, error) {
	if len(tpdu) < 2 {
		return APDU{}, fmt.Errorf("group TPDU of %d bytes is too short", len(tpdu))
	}
	if tpdu[0]&0xFC != 0 {
		return APDU{}, fmt.Errorf("TPCI 0x%02X is not T_Data_Group", tpdu[0]&0xFC)
	}
	a := APDU{Command: APCI((tpdu[0]&0x3)<<2 | tpdu[1]>>6)}
	switch {
	case a.Command == GroupValueRead:
	case len(tpdu) == 2:
		a.Short = true
		a.Data = []byte{tpdu[1] & 0x3F}
	default:
		a.Data = append([]byte(nil), tpdu[2:]...)
	}
	return a, nil
}

// NewGroupTelegram builds a cEMI message carrying apdu to group address dst with the
// default control fields; frames too long for a standard frame become extended frames.
func NewGroupTelegram(code MessageCode, src IndividualAddress, dst GroupAddress, apdu APDU) (CEMI, error) {
	tpdu, err := apdu.TPDU()
	if err != nil {
		return CEMI{}, err
	}
	c1 := byte(DefaultControl1)
	if len(tpdu)-1 > maxStandardNPDU {
		c1 &^= control1Standard
	}
	return CEMI{Code: code, Control1: c1, Control2: DefaultControl2, Source: src, Dest: uint16(dst), TPDU: tpdu}, nil
}

// GroupTelegram returns the group address and APDU of a group message.
func (c *CEMI) GroupTelegram() (GroupAddress, APDU, error) {
	if !c.IsGroup() {
		return 0, APDU{}, fmt.Errorf("%s to individual address %s is not a group telegram", c.Code, IndividualAddress(c.Dest))
	}
	a, err := DecodeGroupAPDU(c.TPDU)
	if err != nil {
		return 0, APDU{}, err
	}
	return GroupAddress(c.Dest), a, nil
}
