// Package line is a connector for the conformance kit's own tests. It speaks the line
// protocol of the TCP example (examples/tcp: HELLO, SUB, PUB, MSG, ACK and NACK over
// one TCP connection), correctly, and each Fault, which its "fault" option names,
// puts in one mistake connector authors make: the kit must pass the connector
// without a fault and fail each fault at its own check (sdk/conformance's broken
// tests hold it to that).
package line

import (
	"slices"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Fault names one mistake; None is the correct connector.
type Fault string

// The faults, each with the check that must catch it.
const (
	None             Fault = ""
	NoResubscribe    Fault = "noresub"     // subscribes on its first connection only: outage/inbound
	LeakPerReconnect Fault = "leak"        // leaves a goroutine behind per connection: outage/reconnects
	NoBackoff        Fault = "nobackoff"   // reconnects without waiting: outage/backoff
	IgnoreCtx        Fault = "ignorectx"   // Publish writes without a deadline: publish/deadline
	ReusePayload     Fault = "reuse"       // reads each message into the buffer it handed over: inbound/payload-kept
	AckFirst         Fault = "ackfirst"    // ACKs upstream before the host took the value: inbound/ack-commit
	Stdout           Fault = "stdout"      // prints to stdout when it connects: stdout/silent
	BlockWhileDown   Fault = "blockdown"   // Publish waits for the connection while down: outage/down
	HealthyWhileDown Fault = "healthydown" // stays healthy after the connection is lost: outage/health
	Misroute         Fault = "misroute"    // hands every message to every route: inbound/routes, inbound/wildcards
	CloseHangs       Fault = "closehang"   // Close never returns: lifecycle and shutdown checks
)

// Faults lists every fault.
var Faults = []Fault{NoResubscribe, LeakPerReconnect, NoBackoff, IgnoreCtx, ReusePayload, AckFirst,
	Stdout, BlockWhileDown, HealthyWhileDown, Misroute, CloseHangs}

// FaultOption is the connector option that names an instance's fault.
const FaultOption = "fault"

// parseFault returns the fault s names; "" is None.
func parseFault(s string) (Fault, error) {
	f := Fault(s)
	if f == None || slices.Contains(Faults, f) {
		return f, nil
	}
	return None, sdk.OptionErrorf(sdk.KindInvalidConfig, FaultOption, "no such fault %q", s)
}
