package connector

import (
	"fmt"
	"strings"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// settings are an instance's parsed URL and options.
type settings struct {
	target string // host:port that published datagrams go to
	listen string // host:port that inbound datagrams arrive on, or ""
}

// parseSettings reads the URL udp://host:port and the options; every error names
// what is wrong.
func parseSettings(u sdk.URL, options sdk.Config, inbound bool) (settings, error) {
	if err := options.Unknown("listen"); err != nil {
		return settings{}, err
	}
	addrs, err := u.Addrs(0)
	if err != nil {
		return settings{}, sdk.AtOption("url", err)
	}
	if len(addrs) != 1 {
		return settings{}, sdk.AtOption("url", fmt.Errorf("url %s: want exactly one host:port, got %d", u, len(addrs)))
	}
	s := settings{target: addrs[0], listen: options.String("listen", "")}
	if inbound && s.listen == "" {
		return settings{}, sdk.OptionErrorf(sdk.KindInvalidConfig, "listen", "needed to receive link_from messages")
	}
	return s, nil
}

// checkTopic checks a link's topic: not empty, at most 255 bytes, no newline, and
// wildcards only in inbound patterns.
func checkTopic(topic string, pattern bool) error {
	switch {
	case topic == "":
		return fmt.Errorf("empty topic")
	case len(topic) > 255:
		return fmt.Errorf("topic %.20q...: longer than 255 bytes", topic)
	case strings.ContainsAny(topic, "\n"):
		return fmt.Errorf("topic %q: holds a newline", topic)
	case pattern:
		return sdk.ValidatePattern(topic)
	case sdk.HasWildcard(topic):
		return fmt.Errorf("topic %q: a destination cannot hold + or #", topic)
	}
	return nil
}
