package kafka

import (
	"context"
	"errors"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// classifyProduce turns a franz-go produce error for topic into a classified sdk error.
// dialErr is the last failed connection attempt, if any: a timeout while the brokers
// refuse connections is reported as a connection failure, which says more.
func classifyProduce(err error, topic string, autoCreate bool, dialErr error) error {
	var ke *kerr.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		if autoCreate {
			return sdk.Errorf(sdk.KindInvalidDestination, "topic %q does not exist and the cluster did not create it: %w", topic, err)
		}
		return sdk.Errorf(sdk.KindInvalidDestination, "topic %q does not exist (auto_create_topics is off): %w", topic, err)
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return sdk.Errorf(sdk.KindInvalidDestination, "topic %q: not authorized to write: %w", topic, err)
	case errors.Is(err, kerr.InvalidTopicException):
		return sdk.Errorf(sdk.KindInvalidDestination, "topic %q: %w", topic, err)
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return sdk.Errorf(sdk.KindMessageTooLarge, "topic %q: %w", topic, err)
	case errors.Is(err, kgo.ErrMaxBuffered):
		return sdk.Errorf(sdk.KindBufferFull, "topic %q: %w", topic, err)
	case errors.Is(err, kgo.ErrClientClosed):
		return sdk.Errorf(sdk.KindClosed, "topic %q: %w", topic, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, kgo.ErrRecordRetries):
		if dialErr != nil {
			return sdk.Errorf(sdk.KindConnectionFailed, "topic %q: brokers unreachable: %v (gave up: %w)", topic, dialErr, err)
		}
		return sdk.Errorf(sdk.KindTimeout, "topic %q: no acknowledgement in time: %w", topic, err)
	case isConnErr(err):
		return sdk.Errorf(sdk.KindConnectionFailed, "topic %q: %w", topic, err)
	case errors.As(err, &ke):
		return sdk.Errorf(sdk.KindUnknown, "topic %q: broker refused the record: %w", topic, err)
	}
	return sdk.Errorf(sdk.KindUnknown, "topic %q: %w", topic, err)
}

// isConnErr reports whether err comes from the network or the handshake with a broker.
func isConnErr(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &oe) || errors.As(err, &ne) ||
		errors.As(err, new(*kgo.ErrFirstReadEOF)) ||
		errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		errors.Is(err, kerr.IllegalSaslState)
}
