package line

import (
	"context"
	"strings"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// MaxPayload is the largest payload a line carries.
const MaxPayload = 32 << 10

// builder builds line connector instances, each with the fault its options name.
type builder struct{}

// NewBuilder returns the line connector's builder.
func NewBuilder() sdk.ConnectorBuilder { return builder{} }

func (builder) Scheme() string { return "line" }

func (builder) Describe() sdk.Description {
	return sdk.Description{Version: "0.0.1", MaxPayload: MaxPayload, Capabilities: []string{
		sdk.CapOutbound, sdk.CapInbound, sdk.CapWildcards, sdk.CapAckCommit, sdk.CapHealth},
		Options: []sdk.OptionDoc{{Name: FaultOption, Scope: sdk.ScopeConnector, Doc: "the mistake the instance makes (package line's Faults); empty: none"}}}
}

func (builder) Build(_ context.Context, bc *sdk.BuildContext) (sdk.Connector, error) {
	if err := bc.Options.Unknown(FaultOption); err != nil {
		return nil, err
	}
	fault, err := parseFault(bc.Options.String(FaultOption, ""))
	if err != nil {
		return nil, err
	}
	addrs, err := bc.URL.Addrs(0)
	if err != nil {
		return nil, sdk.Wrap(sdk.KindInvalidConfig, err)
	}
	for _, rt := range bc.Routes {
		if err := checkTopic(rt.Resource); err != nil {
			return nil, err
		}
	}
	c := &conn{fault: fault, addr: addrs[0], router: bc.Router, log: bc.Logger, life: bc.Context(),
		wlock: make(chan struct{}, 1)}
	c.rc = &sdk.Reconnector{Name: "line server " + c.addr, Session: c.session, Logger: bc.Logger,
		Backoff: sdk.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}}
	if fault == NoBackoff {
		c.rc.Backoff = sdk.Backoff{Min: time.Microsecond, Max: time.Microsecond}
	}
	bc.Go("connect", c.rc.Run)
	return c, nil
}

// checkTopic checks that topic fits a line: 1 to 255 bytes, no space or line break.
func checkTopic(topic string) error {
	if topic == "" || len(topic) > 255 || strings.ContainsAny(topic, " \r\n") {
		return sdk.Errorf(sdk.KindInvalidDestination, "topic %.40q: want 1 to 255 bytes without spaces or line breaks", topic)
	}
	return nil
}
