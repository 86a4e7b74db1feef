package knxnet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// ServiceType identifies a KNXnet/IP service in the frame header.
type ServiceType uint16

// KNXnet/IP service types this package encodes and decodes.
const (
	ConnectRequestType          ServiceType = 0x0205
	ConnectResponseType         ServiceType = 0x0206
	ConnectionStateRequestType  ServiceType = 0x0207
	ConnectionStateResponseType ServiceType = 0x0208
	DisconnectRequestType       ServiceType = 0x0209
	DisconnectResponseType      ServiceType = 0x020A
	TunnellingRequestType       ServiceType = 0x0420
	TunnellingAckType           ServiceType = 0x0421
	RoutingIndicationType       ServiceType = 0x0530
	RoutingLostMessageType      ServiceType = 0x0531
	RoutingBusyType             ServiceType = 0x0532
)

// String names the service.
func (s ServiceType) String() string {
	switch s {
	case ConnectRequestType:
		return "CONNECT_REQUEST"
	case ConnectResponseType:
		return "CONNECT_RESPONSE"
	case ConnectionStateRequestType:
		return "CONNECTIONSTATE_REQUEST"
	case ConnectionStateResponseType:
		return "CONNECTIONSTATE_RESPONSE"
	case DisconnectRequestType:
		return "DISCONNECT_REQUEST"
	case DisconnectResponseType:
		return "DISCONNECT_RESPONSE"
	case TunnellingRequestType:
		return "TUNNELLING_REQUEST"
	case TunnellingAckType:
		return "TUNNELLING_ACK"
	case RoutingIndicationType:
		return "ROUTING_INDICATION"
	case RoutingLostMessageType:
		return "ROUTING_LOST_MESSAGE"
	case RoutingBusyType:
		return "ROUTING_BUSY"
	}
	return fmt.Sprintf("service 0x%04X", uint16(s))
}

// Header constants of KNXnet/IP version 1.0.
const (
	HeaderLength    = 6
	ProtocolVersion = 0x10
)

// Status is a KNXnet/IP status code carried in responses and acknowledgements.
type Status uint8

// Status codes.
const (
	StatusOK                Status = 0x00
	StatusHostProtocolType  Status = 0x01
	StatusVersion           Status = 0x02
	StatusSequenceNumber    Status = 0x04
	StatusConnectionID      Status = 0x21
	StatusConnectionType    Status = 0x22
	StatusConnectionOption  Status = 0x23
	StatusNoMoreConnections Status = 0x24
	StatusDataConnection    Status = 0x26
	StatusKNXConnection     Status = 0x27
	StatusTunnellingLayer   Status = 0x29
)

// String describes the status in words.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "no error"
	case StatusHostProtocolType:
		return "host protocol type not supported"
	case StatusVersion:
		return "protocol version not supported"
	case StatusSequenceNumber:
		return "wrong sequence number"
	case StatusConnectionID:
		return "no active connection with this channel id"
	case StatusConnectionType:
		return "connection type not supported"
	case StatusConnectionOption:
		return "connection option not supported"
	case StatusNoMoreConnections:
		return "no more connections accepted"
	case StatusDataConnection:
		return "error in the data connection"
	case StatusKNXConnection:
		return "error in the KNX connection"
	case StatusTunnellingLayer:
		return "tunnelling layer not supported"
	}
	return fmt.Sprintf("status 0x%02X", uint8(s))
}

// Frame is one KNXnet/IP frame body; Encode adds the header.
type Frame interface {
	// Service returns the frame's service type.
	Service() ServiceType
	appendBody(b []byte) ([]byte, error)
}

// Encode returns the frame with its KNXnet/IP header.
func Encode(f Frame) ([]byte, error) {
	b := make([]byte, HeaderLength, 64)
	b, err := f.appendBody(b)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", f.Service(), err)
	}
	if len(b) > 0xFFFF {
		return nil, fmt.Errorf("encode %s: frame of %d bytes is too long", f.Service(), len(b))
	}
	b[0] = HeaderLength
	b[1] = ProtocolVersion
	binary.BigEndian.PutUint16(b[2:], uint16(f.Service()))
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	return b, nil
}

// UnsupportedServiceError is returned by Decode for a well-formed frame of a service
// this package does not decode (search, description, device management, ...).
type UnsupportedServiceError struct{ Service ServiceType }

// Error names the service.
func (e *UnsupportedServiceError) Error() string {
	return fmt.Sprintf("unsupported KNXnet/IP service %s", e.Service)
}

// Decode parses one KNXnet/IP frame. Bytes after the length the header declares are
// ignored; fewer bytes are an error.
func Decode(b []byte) (Frame, error) {
	if len(b) < HeaderLength {
		return nil, fmt.Errorf("knxnet frame of %d bytes is shorter than its %d-byte header", len(b), HeaderLength)
	}
	if b[0] != HeaderLength {
		return nil, fmt.Errorf("knxnet header length is %d, want %d", b[0], HeaderLength)
	}
	if b[1] != ProtocolVersion {
		return nil, fmt.Errorf("knxnet protocol version 0x%02X is not supported (want 0x10)", b[1])
	}
	svc := ServiceType(binary.BigEndian.Uint16(b[2:]))
	total := int(binary.BigEndian.Uint16(b[4:]))
	if total < HeaderLength || total > len(b) {
		return nil, fmt.Errorf("%s: header says %d bytes, got %d", svc, total, len(b))
	}
	body := b[HeaderLength:total]
	var (
		f   Frame
		err error
	)
	switch svc {
	case ConnectRequestType:
		f, err = decodeConnectRequest(body)
	case ConnectResponseType:
		f, err = decodeConnectResponse(body)
	case ConnectionStateRequestType:
		var r ConnectionStateRequest
		r.Channel, r.Control, err = decodeChannelHPAI(body)
		f = &r
	case ConnectionStateResponseType:
		var r ConnectionStateResponse
		r.Channel, r.Status, err = decodeChannelStatus(body)
		f = &r
	case DisconnectRequestType:
		var r DisconnectRequest
		r.Channel, r.Control, err = decodeChannelHPAI(body)
		f = &r
	case DisconnectResponseType:
		var r DisconnectResponse
		r.Channel, r.Status, err = decodeChannelStatus(body)
		f = &r
	case TunnellingRequestType:
		f, err = decodeTunnellingRequest(body)
	case TunnellingAckType:
		f, err = decodeTunnellingAck(body)
	case RoutingIndicationType:
		var c *CEMI
		c, err = DecodeCEMI(body)
		if err == nil {
			f = &RoutingIndication{CEMI: *c}
		}
	case RoutingLostMessageType:
		f, err = decodeRoutingLostMessage(body)
	case RoutingBusyType:
		f, err = decodeRoutingBusy(body)
	default:
		return nil, &UnsupportedServiceError{Service: svc}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", svc, err)
	}
	return f, nil
}

// HPAI is a host protocol address information block: an IPv4 UDP endpoint.
// The zero value (0.0.0.0:0) asks the server to answer to the packet's source (NAT mode).
type HPAI struct {
	Addr netip.AddrPort
}

const (
	hpaiLength = 8
	hpaiUDP    = 0x01
)

func (h HPAI) append(b []byte) ([]byte, error) {
	ip := h.Addr.Addr()
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	ip = ip.Unmap()
	if !ip.Is4() {
		return nil, fmt.Errorf("HPAI %s: KNXnet/IP needs an IPv4 address", h.Addr)
	}
	a := ip.As4()
	b = append(b, hpaiLength, hpaiUDP)
	b = append(b, a[:]...)
	return binary.BigEndian.AppendUint16(b, h.Addr.Port()), nil
}

func decodeHPAI(b []byte) (HPAI, []byte, error) {
	if len(b) < hpaiLength {
		return HPAI{}, nil, fmt.Errorf("HPAI needs %d bytes, got %d", hpaiLength, len(b))
	}
	if b[0] != hpaiLength {
		return HPAI{}, nil, fmt.Errorf("HPAI length is %d, want %d", b[0], hpaiLength)
	}
	if b[1] != hpaiUDP {
		return HPAI{}, nil, fmt.Errorf("HPAI host protocol 0x%02X is not UDP (0x01)", b[1])
	}
	ip := netip.AddrFrom4([4]byte(b[2:6]))
	return HPAI{Addr: netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[6:]))}, b[hpaiLength:], nil
}

// Connection types and tunnelling layers of a CRI.
const (
	TunnelConnection = 0x04
	TunnelLinkLayer  = 0x02
)

// ConnectRequest opens a tunnelling connection: CONNECT_REQUEST with a tunnel CRI.
type ConnectRequest struct {
	Control HPAI
	Data    HPAI
	// Layer is the tunnelling KNX layer of the CRI, normally TunnelLinkLayer.
	Layer uint8
}

// Service returns ConnectRequestType.
func (*ConnectRequest) Service() ServiceType { return ConnectRequestType }

func (r *ConnectRequest) appendBody(b []byte) ([]byte, error) {
	var err error
	if b, err = r.Control.append(b); err != nil {
		return nil, err
	}
	if b, err = r.Data.append(b); err != nil {
		return nil, err
	}
	return append(b, 4, TunnelConnection, r.Layer, 0), nil
}

func decodeConnectRequest(b []byte) (Frame, error) {
	var r ConnectRequest
	var err error
	if r.Control, b, err = decodeHPAI(b); err != nil {
		return nil, fmt.Errorf("control endpoint: %w", err)
	}
	if r.Data, b, err = decodeHPAI(b); err != nil {
		return nil, fmt.Errorf("data endpoint: %w", err)
	}
	if len(b) < 2 || int(b[0]) < 2 || int(b[0]) > len(b) {
		return nil, fmt.Errorf("CRI is truncated")
	}
	if b[1] != TunnelConnection {
		return nil, fmt.Errorf("CRI connection type 0x%02X is not a tunnel (0x04)", b[1])
	}
	if b[0] < 3 {
		return nil, fmt.Errorf("tunnel CRI of %d bytes has no KNX layer", b[0])
	}
	r.Layer = b[2]
	return &r, nil
}

// ConnectResponse answers a ConnectRequest. On success it names the channel and the
// individual address the server gave the tunnel (the CRD).
type ConnectResponse struct {
	Channel uint8
	Status  Status
	Data    HPAI
	Address IndividualAddress
}

// Service returns ConnectResponseType.
func (*ConnectResponse) Service() ServiceType { return ConnectResponseType }

func (r *ConnectResponse) appendBody(b []byte) ([]byte, error) {
	b = append(b, r.Channel, byte(r.Status))
	if r.Status != StatusOK {
		return b, nil
	}
	b, err := r.Data.append(b)
	if err != nil {
		return nil, err
	}
	b = append(b, 4, TunnelConnection)
	return binary.BigEndian.AppendUint16(b, uint16(r.Address)), nil
}

func decodeConnectResponse(b []byte) (Frame, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("need channel and status, got %d bytes", len(b))
	}
	r := ConnectResponse{Channel: b[0], Status: Status(b[1])}
	if r.Status != StatusOK {
		return &r, nil
	}
	var err error
	if r.Data, b, err = decodeHPAI(b[2:]); err != nil {
		return nil, fmt.Errorf("data endpoint: %w", err)
	}
	if len(b) < 4 || b[0] < 4 || int(b[0]) > len(b) {
		return nil, fmt.Errorf("CRD is truncated")
	}
	if b[1] != TunnelConnection {
		return nil, fmt.Errorf("CRD connection type 0x%02X is not a tunnel (0x04)", b[1])
	}
	r.Address = IndividualAddress(binary.BigEndian.Uint16(b[2:]))
	return &r, nil
}

// ConnectionStateRequest is the tunnel heartbeat: CONNECTIONSTATE_REQUEST.
type ConnectionStateRequest struct {
	Channel uint8
	Control HPAI
}

// Service returns ConnectionStateRequestType.
func (*ConnectionStateRequest) Service() ServiceType { return ConnectionStateRequestType }

func (r *ConnectionStateRequest) appendBody(b []byte) ([]byte, error) {
	return r.Control.append(append(b, r.Channel, 0))
}

// ConnectionStateResponse answers a heartbeat.
type ConnectionStateResponse struct {
	Channel uint8
	Status  Status
}

// Service returns ConnectionStateResponseType.
func (*ConnectionStateResponse) Service() ServiceType { return ConnectionStateResponseType }

func (r *ConnectionStateResponse) appendBody(b []byte) ([]byte, error) {
	return append(b, r.Channel, byte(r.Status)), nil
}

// DisconnectRequest closes a tunnel; either side may send it.
type DisconnectRequest struct {
	Channel uint8
	Control HPAI
}

// Service returns DisconnectRequestType.
func (*DisconnectRequest) Service() ServiceType { return DisconnectRequestType }

func (r *DisconnectRequest) appendBody(b []byte) ([]byte, error) {
	return r.Control.append(append(b, r.Channel, 0))
}

// DisconnectResponse answers a DisconnectRequest.
type DisconnectResponse struct {
	Channel uint8
	Status  Status
}

// Service returns DisconnectResponseType.
func (*DisconnectResponse) Service() ServiceType { return DisconnectResponseType }

func (r *DisconnectResponse) appendBody(b []byte) ([]byte, error) {
	return append(b, r.Channel, byte(r.Status)), nil
}

func decodeChannelHPAI(b []byte) (uint8, HPAI, error) {
	if len(b) < 2 {
		return 0, HPAI{}, fmt.Errorf("need channel and reserved byte, got %d bytes", len(b))
	}
	h, _, err := decodeHPAI(b[2:])
	if err != nil {
		return 0, HPAI{}, fmt.Errorf("control endpoint: %w", err)
	}
	return b[0], h, nil
}

func decodeChannelStatus(b []byte) (uint8, Status, error) {
	if len(b) < 2 {
		return 0, 0, fmt.Errorf("need channel and status, got %d bytes", len(b))
	}
	return b[0], Status(b[1]), nil
}

const connHeaderLength = 4

// TunnellingRequest carries one cEMI message over a tunnel; Seq counts per direction.
type TunnellingRequest struct {
	Channel uint8
	Seq     uint8
	CEMI    CEMI
}

// Service returns TunnellingRequestType.
func (*TunnellingRequest) Service() ServiceType { return TunnellingRequestType }

func (r *TunnellingRequest) appendBody(b []byte) ([]byte, error) {
	return r.CEMI.Append(append(b, connHeaderLength, r.Channel, r.Seq, 0))
}

func decodeConnHeader(b []byte) (channel, seq, status uint8, rest []byte, err error) {
	if len(b) < connHeaderLength {
		return 0, 0, 0, nil, fmt.Errorf("connection header needs %d bytes, got %d", connHeaderLength, len(b))
	}
	if b[0] != connHeaderLength {
		return 0, 0, 0, nil, fmt.Errorf("connection header length is %d, want %d", b[0], connHeaderLength)
	}
	return b[1], b[2], b[3], b[connHeaderLength:], nil
}

func decodeTunnellingRequest(b []byte) (Frame, error) {
	ch, seq, _, rest, err := decodeConnHeader(b)
	if err != nil {
		return nil, err
	}
	c, err := DecodeCEMI(rest)
	if err != nil {
		return nil, err
	}
	return &TunnellingRequest{Channel: ch, Seq: seq, CEMI: *c}, nil
}

// TunnellingAck acknowledges the TunnellingRequest with the same channel and Seq.
type TunnellingAck struct {
	Channel uint8
	Seq     uint8
	Status  Status
}

// Service returns TunnellingAckType.
func (*TunnellingAck) Service() ServiceType { return TunnellingAckType }

func (r *TunnellingAck) appendBody(b []byte) ([]byte, error) {
	return append(b, connHeaderLength, r.Channel, r.Seq, byte(r.Status)), nil
}

func decodeTunnellingAck(b []byte) (Frame, error) {
	ch, seq, st, _, err := decodeConnHeader(b)
	if err != nil {
		return nil, err
	}
	return &TunnellingAck{Channel: ch, Seq: seq, Status: Status(st)}, nil
}

// RoutingIndication carries one cEMI message over multicast routing.
type RoutingIndication struct {
	CEMI CEMI
}

// Service returns RoutingIndicationType.
func (*RoutingIndication) Service() ServiceType { return RoutingIndicationType }

func (r *RoutingIndication) appendBody(b []byte) ([]byte, error) { return r.CEMI.Append(b) }

// RoutingLostMessage reports telegrams a router dropped because its queue overflowed.
type RoutingLostMessage struct {
	DeviceState uint8
	Lost        uint16
}

// Service returns RoutingLostMessageType.
func (*RoutingLostMessage) Service() ServiceType { return RoutingLostMessageType }

func (r *RoutingLostMessage) appendBody(b []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint16(append(b, 4, r.DeviceState), r.Lost), nil
}

func decodeRoutingLostMessage(b []byte) (Frame, error) {
	if len(b) < 4 || b[0] < 4 {
		return nil, fmt.Errorf("lost-message info needs 4 bytes, got %d", len(b))
	}
	return &RoutingLostMessage{DeviceState: b[1], Lost: binary.BigEndian.Uint16(b[2:])}, nil
}

// RoutingBusy asks every router to pause sending for WaitTime milliseconds.
type RoutingBusy struct {
	DeviceState uint8
	WaitTime    uint16 // milliseconds
	Control     uint16
}

// Service returns RoutingBusyType.
func (*RoutingBusy) Service() ServiceType { return RoutingBusyType }

func (r *RoutingBusy) appendBody(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(append(b, 6, r.DeviceState), r.WaitTime)
	return binary.BigEndian.AppendUint16(b, r.Control), nil
}

func decodeRoutingBusy(b []byte) (Frame, error) {
	if len(b) < 6 || b[0] < 6 {
		return nil, fmt.Errorf("busy info needs 6 bytes, got %d", len(b))
	}
	return &RoutingBusy{DeviceState: b[1], WaitTime: binary.BigEndian.Uint16(b[2:]), Control: binary.BigEndian.Uint16(b[4:])}, nil
}
