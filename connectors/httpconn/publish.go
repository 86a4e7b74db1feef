package httpconn

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// bodyExcerpt is how much of an error reply's body goes into the error message.
const bodyExcerpt = 200

// drainLimit is how much of a reply body is read so that the connection can be reused.
const drainLimit = 64 << 10

// userAgent names the connector to the servers it calls.
const userAgent = "aimdb-http/" + version

// attempt is the outcome of one request.
type attempt struct {
	err        error         // nil on success; classified
	status     int           // the HTTP status, 0 when no answer came
	retry      bool          // worth another attempt
	retryAfter time.Duration // the server's Retry-After, when hasAfter
	hasAfter   bool
}

// Publish sends payload to the base URL joined with destination, retrying connection
// errors, 408, 429 and 5xx with backoff until it succeeds, max_attempts is reached,
// or ctx ends.
func (c *connector) Publish(ctx context.Context, destination string, cfg sdk.Config, payload []byte) error {
	out, _, err := linkSettings(c.s.out, cfg)
	if err != nil {
		return err
	}
	if c.s.base == nil {
		return sdk.Errorf(sdk.KindInvalidConfig, "link_to %q: connector %q has no url to send to", destination, c.name)
	}
	full, shown, err := c.s.base.join(destination)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.closing, cancel)()

	what := out.method + " " + shown
	for n := 1; ; n++ {
		a := c.send(ctx, out, full, what, payload)
		if a.err == nil {
			c.lastOut.Store(nil)
			return nil
		}
		if !a.retry || n == out.maxAttempts {
			if a.retry && n > 1 {
				a.err = fmt.Errorf("%w (gave up after %d attempts)", a.err, n)
			}
			return c.failed(what, a.err, a.status)
		}
		wait := sdk.Backoff{Min: out.backoffInitial, Max: out.backoffMax}.Delay(n - 1)
		if a.hasAfter {
			if a.retryAfter > out.retryAfterMax {
				return c.failed(what, fmt.Errorf("%w (not retrying: the server asked to wait %s, more than %s %s)", a.err, a.retryAfter, optRetryAfterMax, out.retryAfterMax), a.status)
			}
			wait = a.retryAfter
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return c.failed(what, fmt.Errorf("%w (not retrying: the next attempt in %s would come after the deadline)", a.err, wait.Round(time.Millisecond)), a.status)
		}
		c.log.Debug("retrying outbound request", "request", what, "attempt", n, "wait", wait, "error", a.err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return c.failed(what, c.ctxError(ctx, a.err), a.status)
		}
	}
}

// linkSettings returns the connector's outbound settings with the link's options
// applied, and the link's allow_get.
func linkSettings(base outSettings, cfg sdk.Config) (outSettings, bool, error) {
	if len(cfg) == 0 {
		return base, false, nil
	}
	if err := cfg.Unknown(sdk.OptionNames(optionDocs, sdk.ScopeLinkTo)...); err != nil {
		return outSettings{}, false, err
	}
	allowGet, err := cfg.Bool(optAllowGet, false)
	if err != nil {
		return outSettings{}, false, err
	}
	out, err := parseOut(cfg, base)
	return out, allowGet, err
}

// send makes one request and classifies its outcome.
func (c *connector) send(ctx context.Context, out outSettings, full, what string, payload []byte) attempt {
	actx, cancel := context.WithTimeout(ctx, out.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, out.method, full, bytes.NewReader(payload))
	if err != nil {
		return attempt{err: sdk.Errorf(sdk.KindInvalidDestination, "%s: %v", what, errorText(err))}
	}
	for k, vs := range out.headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", out.contentType)
	req.Header.Set("User-Agent", userAgent)
	c.s.auth.apply(req)

	resp, err := c.client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return attempt{err: c.ctxError(ctx, fmt.Errorf("%s: %s", what, errorText(err)))}
		case actx.Err() != nil:
			return attempt{err: sdk.Errorf(sdk.KindTimeout, "%s: no answer within %s %s", what, optTimeout, out.timeout), retry: true}
		case isCertError(err):
			return attempt{err: sdk.Errorf(sdk.KindConnectionFailed, "%s: %s (check %s)", what, errorText(err), optTLSCA)}
		}
		return attempt{err: sdk.Errorf(sdk.KindConnectionFailed, "%s: %s", what, errorText(err)), retry: true}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
		return attempt{}
	}
	msg := what + ": " + resp.Status + c.excerpt(resp.Body)
	a := attempt{retry: retryableStatus(resp.StatusCode), status: resp.StatusCode}
	a.retryAfter, a.hasAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	a.err = sdk.Errorf(statusKind(resp.StatusCode), "%s%s", msg, statusHint(resp))
	return a
}

// statusKind classifies an unsuccessful HTTP status: 408, 429 and 5xx are retryable
// (timeout, connection failed), every other status is permanent (the value is
// dead-lettered): 413 message too large, 400/404/405/410/414/415/422 invalid
// destination, 401/403 and redirects invalid config, any other 4xx rejected.
func statusKind(code int) sdk.ErrorKind {
	switch {
	case code == http.StatusRequestTimeout || code == http.StatusGatewayTimeout:
		return sdk.KindTimeout
	case code == http.StatusTooManyRequests || code >= 500:
		return sdk.KindConnectionFailed
	case code == http.StatusRequestEntityTooLarge:
		return sdk.KindMessageTooLarge
	case code == http.StatusBadRequest || code == http.StatusNotFound || code == http.StatusGone ||
		code == http.StatusMethodNotAllowed || code == http.StatusRequestURITooLong ||
		code == http.StatusUnprocessableEntity || code == http.StatusUnsupportedMediaType:
		return sdk.KindInvalidDestination
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 300 && code <= 399:
		return sdk.KindInvalidConfig
	}
	return sdk.KindRejected
}

// statusHint says what to check for statuses that usually mean a configuration mistake.
func statusHint(resp *http.Response) string {
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Sprintf(" (check %s or %s/%s)", optTokenEnv, optBasicUser, optBasicPassEnv)
	case resp.StatusCode >= 300 && resp.StatusCode <= 399:
		return fmt.Sprintf(" (redirects are not followed: redirected to %q; set url to the final address)", resp.Header.Get("Location"))
	}
	return ""
}

// excerpt returns " (body: ...)" with the start of an error reply's body on one
// line, or "" for an empty body. It drains the rest. The connector's secrets and any
// Authorization-like header a server echoes are masked in all the body read (up to
// drainLimit) before it is cut to bodyExcerpt bytes, so no part of a secret survives
// the cut.
func (c *connector) excerpt(body io.Reader) string {
	buf, _ := io.ReadAll(io.LimitReader(body, drainLimit))
	_, _ = io.CopyN(io.Discard, body, drainLimit)
	text := c.secrets.String(strings.ToValidUTF8(string(buf), string(utf8.RuneError)))
	text = strings.TrimSpace(strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case !unicode.IsPrint(r):
			return utf8.RuneError
		}
		return r
	}, text))
	if text == "" {
		return ""
	}
	if len(text) > bodyExcerpt {
		cut := bodyExcerpt
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "..."
	}
	return " (body: " + text + ")"
}

// ctxError explains why ctx ended: the connector closed, or the caller's deadline passed.
func (c *connector) ctxError(ctx context.Context, last error) error {
	if c.closing.Err() != nil {
		return sdk.Errorf(sdk.KindClosed, "connector %q closed while sending; last error: %v", c.name, last)
	}
	return sdk.Errorf(sdk.KindTimeout, "%v; last error: %v", context.Cause(ctx), last)
}

// failed records a final outbound failure for Health and returns err. status is the
// HTTP status of the last answer, 0 when none came.
func (c *connector) failed(what string, err error, status int) error {
	switch sdk.KindOf(err) {
	case sdk.KindConnectionFailed, sdk.KindTimeout:
		c.lastOut.Store(&outFailure{err: err, status: status, at: time.Now()})
	default:
		// The server answered: it is reachable, whatever it thought of this value.
		c.lastOut.Store(nil)
	}
	c.log.Warn("outbound request failed", "request", what, "error", err)
	return err
}

// isCertError reports whether err is a TLS certificate problem, which retrying cannot fix.
func isCertError(err error) bool {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify)
}
