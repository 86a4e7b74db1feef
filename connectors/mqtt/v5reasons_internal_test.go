package mqtt

import (
	"testing"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Reason codes of a refused MQTT 5 publish map to what the host does with the value:
// retry (quota exceeded: buffer full) or dead-letter (not authorized and the other
// refusals that will not change by themselves).
func TestPublishReasonKinds(t *testing.T) {
	for code, want := range map[byte]sdk.ErrorKind{
		0x97: sdk.KindBufferFull,
		0x87: sdk.KindInvalidDestination,
		0x90: sdk.KindInvalidDestination,
		0x95: sdk.KindMessageTooLarge,
		0x99: sdk.KindRejected,
		0x9A: sdk.KindInvalidConfig,
		0x9B: sdk.KindUnsupportedQoS,
		0x80: sdk.KindUnknown,
	} {
		if got := publishKind(code); got != want {
			t.Errorf("reason 0x%02X: kind %v, want %v", code, got, want)
		}
	}
	if !sdk.KindBufferFull.Retryable() || sdk.KindInvalidDestination.Retryable() {
		t.Error("quota exceeded must be retried, not authorized must not")
	}
	if got := reasonText(0x87, "denied"); got != `not authorized (0x87): "denied"` {
		t.Errorf("reasonText = %s", got)
	}
}
