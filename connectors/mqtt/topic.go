package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// checkPublishTopic checks that topic is a valid MQTT topic name to publish to:
// non-empty UTF-8 of at most 65535 bytes, no NUL and no wildcard.
func checkPublishTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("empty topic")
	case len(topic) > 65535:
		return fmt.Errorf("topic is %d bytes; MQTT allows 65535", len(topic))
	case !utf8.ValidString(topic):
		return fmt.Errorf("topic %q is not valid UTF-8", topic)
	case strings.ContainsRune(topic, 0):
		return fmt.Errorf("topic %q holds a NUL character", topic)
	case strings.ContainsAny(topic, "+#"):
		return fmt.Errorf("topic %q holds a wildcard (+ or #); wildcards are for link_from only", topic)
	}
	return nil
}

// checkFilter checks an inbound route pattern as an MQTT topic filter.
func checkFilter(filter string) error {
	if err := sdk.ValidatePattern(filter); err != nil {
		return err
	}
	switch {
	case len(filter) > 65535:
		return sdk.Errorf(sdk.KindInvalidDestination, "pattern is %d bytes; MQTT allows 65535", len(filter))
	case !utf8.ValidString(filter) || strings.ContainsRune(filter, 0):
		return sdk.Errorf(sdk.KindInvalidDestination, "pattern %q is not valid UTF-8 or holds NUL", filter)
	}
	return nil
}
