package knx

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// listenGroup opens a UDP socket bound to the multicast group's own address and port
// and joins the group. Binding the group address (not 0.0.0.0) keeps the socket from
// taking unicast datagrams meant for a KNXnet/IP server on the same port.
func listenGroup(group *net.UDPAddr, ifi *net.Interface) (*net.UDPConn, error) {
	ip4 := group.IP.To4()
	if ip4 == nil {
		return nil, fmt.Errorf("%s is not an IPv4 group", group)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	fail := func(op string, err error) (*net.UDPConn, error) {
		syscall.Close(fd)
		return nil, os.NewSyscallError(op, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt SO_REUSEADDR", err)
	}
	sa := &syscall.SockaddrInet4{Port: group.Port}
	copy(sa.Addr[:], ip4)
	if err := syscall.Bind(fd, sa); err != nil {
		return fail("bind "+group.String(), err)
	}
	mreq := &syscall.IPMreqn{}
	copy(mreq.Multiaddr[:], ip4)
	if ifi != nil {
		mreq.Ifindex = int32(ifi.Index)
	}
	if err := syscall.SetsockoptIPMreqn(fd, syscall.IPPROTO_IP, syscall.IP_ADD_MEMBERSHIP, mreq); err != nil {
		return fail("join "+group.IP.String(), err)
	}
	f := os.NewFile(uintptr(fd), "knx-routing "+group.String())
	defer f.Close()
	c, err := net.FilePacketConn(f)
	if err != nil {
		return nil, err
	}
	return c.(*net.UDPConn), nil
}

// multicastSender opens the socket routing telegrams are sent from, with the
// outgoing interface set when ifi is given. Multicast loopback stays on so a
// KNXnet/IP router on the same host hears us.
func multicastSender(ifi *net.Interface) (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return nil, err
	}
	if ifi == nil {
		return c, nil
	}
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptIPMreqn(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, &syscall.IPMreqn{Ifindex: int32(ifi.Index)})
	}); err != nil {
		serr = err
	}
	if serr != nil {
		c.Close()
		return nil, os.NewSyscallError("setsockopt IP_MULTICAST_IF", serr)
	}
	return c, nil
}
