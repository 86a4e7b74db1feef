//go:build !linux

package knx

import "net"

// listenGroup joins the multicast group with the standard library, which binds the
// wildcard address on this platform.
func listenGroup(group *net.UDPAddr, ifi *net.Interface) (*net.UDPConn, error) {
	return net.ListenMulticastUDP("udp4", ifi, group)
}

// multicastSender opens the socket routing telegrams are sent from; the system
// chooses the outgoing interface on this platform.
func multicastSender(*net.Interface) (*net.UDPConn, error) {
	return net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
}
