// Command peer is the TCP connector's outside system as a peer program for
// `aimdb conformance --peer`: a line server listening on the address given (default
// 127.0.0.1:7000), served to the kit on stdin and stdout.
//
//	go build -o tcp-peer ./peer
//	aimdb conformance ./tcp --url tcp://127.0.0.1:7000 --peer "./tcp-peer 127.0.0.1:7000"
package main

import (
	"fmt"
	"os"

	"github.com/aimdb-dev/aimdb-go/examples/tcp/tcppeer"
	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

func main() {
	addr := "127.0.0.1:7000"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	p, err := tcppeer.Listen(addr)
	if err == nil {
		defer p.Close()
		err = conformance.ServePeer(p)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
