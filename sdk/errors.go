package sdk

import (
	"context"
	"errors"
	"fmt"
)

// ErrorKind classifies connector errors. The kinds follow upstream AimDB's PublishError;
// each maps to one gRPC status code at the plugin boundary (see docs/connector-guide.md).
type ErrorKind uint8

// Error kinds. KindUnknown is any error a connector did not classify.
const (
	KindUnknown            ErrorKind = iota // unclassified
	KindConnectionFailed                    // the outside system is unreachable or refused us
	KindMessageTooLarge                     // the payload exceeds what the system or connector takes
	KindUnsupportedQoS                      // the link asks for a delivery guarantee the connector lacks
	KindTimeout                             // no answer in time
	KindBufferFull                          // the connector's own queue is full
	KindInvalidDestination                  // the topic, group address or path is not valid
	KindInvalidConfig                       // a URL or option is wrong
	KindClosed                              // the connector instance was closed
	KindNoRoute                             // an inbound message matched no route
	KindRejected                            // the host refused an inbound value (for example it did not deserialize)
)

var kindNames = [...]string{
	KindUnknown:            "error",
	KindConnectionFailed:   "connection failed",
	KindMessageTooLarge:    "message too large",
	KindUnsupportedQoS:     "unsupported QoS",
	KindTimeout:            "timeout",
	KindBufferFull:         "buffer full",
	KindInvalidDestination: "invalid destination",
	KindInvalidConfig:      "invalid config",
	KindClosed:             "closed",
	KindNoRoute:            "no route",
	KindRejected:           "rejected",
}

// String names the kind in words, as it appears in error messages.
func (k ErrorKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is a classified connector error. Compare kinds with errors.Is against the
// Err... sentinels, or read the kind with KindOf.
type Error struct {
	Kind ErrorKind
	Err  error // the cause, printed after the kind; may be nil
}

// Error prints "kind: cause".
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Kind.String()
	}
	return e.Kind.String() + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of the same kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Err == nil && t.Kind == e.Kind
}

// Sentinels for errors.Is; each matches every Error of its kind.
var (
	ErrConnectionFailed   error = &Error{Kind: KindConnectionFailed}
	ErrMessageTooLarge    error = &Error{Kind: KindMessageTooLarge}
	ErrUnsupportedQoS     error = &Error{Kind: KindUnsupportedQoS}
	ErrTimeout            error = &Error{Kind: KindTimeout}
	ErrBufferFull         error = &Error{Kind: KindBufferFull}
	ErrInvalidDestination error = &Error{Kind: KindInvalidDestination}
	ErrInvalidConfig      error = &Error{Kind: KindInvalidConfig}
	ErrClosed             error = &Error{Kind: KindClosed}
	ErrNoRoute            error = &Error{Kind: KindNoRoute}
	ErrRejected           error = &Error{Kind: KindRejected}
)

// Errorf returns an Error of the given kind whose cause is fmt.Errorf(format, args...);
// %w works as in fmt.Errorf.
func Errorf(kind ErrorKind, format string, args ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...)}
}

// Wrap classifies err as kind; it returns nil for a nil err and leaves an
// already-classified err as it is.
func Wrap(kind ErrorKind, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Kind: kind, Err: err}
}

// KindOf returns the kind of err: the kind of the outermost Error in its chain,
// KindTimeout for context.DeadlineExceeded, KindUnknown otherwise.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTimeout
	}
	return KindUnknown
}

// Retryable reports whether the outcome of a publish or an inbound delivery that
// failed with err may succeed if tried again later: the kinds connection failed,
// timeout, buffer full and closed (an instance or plugin restarting), and errors no
// connector classified. The other kinds (invalid destination, message too large,
// unsupported QoS, invalid config, rejected, no route) are permanent: trying again
// cannot help, so the value is dead-lettered. A nil err is not retryable. For an
// error joining several (one message on several routes), any retryable part makes
// the whole retryable.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		if _, classified := err.(*Error); !classified {
			for _, e := range multi.Unwrap() {
				if Retryable(e) {
					return true
				}
			}
			return false
		}
	}
	return KindOf(err).Retryable()
}

// Retryable reports whether errors of kind k are worth trying again (see Retryable).
func (k ErrorKind) Retryable() bool {
	switch k {
	case KindConnectionFailed, KindTimeout, KindBufferFull, KindClosed, KindUnknown:
		return true
	}
	return false
}
