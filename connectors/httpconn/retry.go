package httpconn

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryAfter parses a Retry-After header, given as delay-seconds or as an HTTP-date,
// into a wait from now. ok is false when the header is absent or malformed.
func retryAfter(v string, now time.Time) (wait time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		// Clamp huge values instead of overflowing; retry_after_max refuses them anyway.
		return time.Duration(min(secs, int64(1<<31))) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}

// retryableStatus reports whether a response status is worth another attempt:
// request timeout, too many requests, and server errors except those that say the
// server will never handle the request (501 Not Implemented, 505 Version Not Supported).
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return code >= 500 && code <= 599
}
