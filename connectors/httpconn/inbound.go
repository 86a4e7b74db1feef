package httpconn

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// ServeHTTP answers the inbound listener: POST /RESOURCE delivers the body to the
// link_from routes matching RESOURCE and replies once the host has answered; GET and
// HEAD return the record's latest value where a link allows it.
func (c *connector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.s.in.token != "" && !c.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="aimdb"`)
		c.reply(w, r, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	resource := strings.TrimPrefix(r.URL.Path, "/")
	var routes []sdk.Route
	if resource != "" {
		routes = c.router.Match(resource)
	}
	switch r.Method {
	case http.MethodPost:
		if len(routes) == 0 {
			c.reply(w, r, http.StatusNotFound, "no link_from for "+r.URL.Path)
			return
		}
		c.post(w, r, resource)
	case http.MethodGet, http.MethodHead:
		c.get(w, r, resource, routes)
	default:
		if len(routes) == 0 {
			c.reply(w, r, http.StatusNotFound, "no link_from for "+r.URL.Path)
			return
		}
		w.Header().Set("Allow", c.allow(routes))
		c.reply(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
	}
}

// authorized checks the request's bearer token in constant time.
func (c *connector) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(c.s.in.token)) == 1
}

// post reads the body and routes it, then turns the host's answer into a status.
func (c *connector) post(w http.ResponseWriter, r *http.Request, resource string) {
	limit := c.s.in.maxBody
	if r.ContentLength > limit {
		c.reply(w, r, http.StatusRequestEntityTooLarge, tooLarge(limit))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			c.reply(w, r, http.StatusRequestEntityTooLarge, tooLarge(limit))
			return
		}
		c.reply(w, r, http.StatusBadRequest, "reading the request body: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.s.in.timeout)
	defer cancel()
	err = c.router.Route(ctx, resource, body)
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	switch kind := sdk.KindOf(err); kind {
	case sdk.KindRejected:
		c.reply(w, r, http.StatusBadRequest, err.Error())
	case sdk.KindNoRoute:
		c.reply(w, r, http.StatusNotFound, err.Error())
	case sdk.KindMessageTooLarge:
		c.reply(w, r, http.StatusRequestEntityTooLarge, err.Error())
	case sdk.KindTimeout, sdk.KindClosed, sdk.KindConnectionFailed, sdk.KindBufferFull:
		c.unavailable(w, r, err, kind)
	default:
		c.reply(w, r, http.StatusInternalServerError, err.Error())
	}
}

// unavailable answers 503: the host did not take the value; the client may retry.
func (c *connector) unavailable(w http.ResponseWriter, r *http.Request, err error, kind sdk.ErrorKind) {
	msg := err.Error()
	if kind == sdk.KindTimeout {
		msg = "the host did not answer within " + optInboundTimeout + " " + c.s.in.timeout.String() + " (" + msg + ")"
	}
	w.Header().Set("Retry-After", "1")
	c.reply(w, r, http.StatusServiceUnavailable, msg)
}

func tooLarge(limit int64) string {
	return "the body is larger than " + optInboundMaxBody + " " + strconv.FormatInt(limit, 10) + " bytes"
}

// get serves the latest value of the record linked to resource, asked of the host.
// On a link_from path the link's allow_get decides; any other path must be the
// destination of a link_to that has allow_get.
func (c *connector) get(w http.ResponseWriter, r *http.Request, resource string, routes []sdk.Route) {
	contentType := c.s.out.contentType
	if len(routes) == 0 {
		if !c.readable[resource] {
			c.reply(w, r, http.StatusNotFound, "no link allows GET on "+r.URL.Path+
				" (set "+optAllowGet+" = true on its link)")
			return
		}
	} else {
		readable := -1
		for i, rt := range routes {
			if c.routes[rt.ID].allowGet {
				readable = i
				break
			}
		}
		if readable < 0 {
			w.Header().Set("Allow", c.allow(routes))
			c.reply(w, r, http.StatusMethodNotAllowed, "GET is not allowed on "+r.URL.Path+": set "+optAllowGet+" = true on its link")
			return
		}
		resource = routes[readable].Resource
		if ct := c.routes[routes[readable].ID].contentType; ct != "" {
			contentType = ct
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.s.in.timeout)
	defer cancel()
	val, err := c.host.Latest(ctx, resource)
	if err == nil {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(val)))
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(val)
		return
	}
	switch kind := sdk.KindOf(err); kind {
	case sdk.KindNoRoute:
		c.reply(w, r, http.StatusNotFound, err.Error())
	case sdk.KindRejected:
		if len(routes) > 0 {
			w.Header().Set("Allow", c.allow(routes))
			c.reply(w, r, http.StatusMethodNotAllowed, err.Error())
			return
		}
		c.reply(w, r, http.StatusForbidden, err.Error())
	default:
		c.unavailable(w, r, err, kind)
	}
}

// allow is the Allow header for a path served by routes.
func (c *connector) allow(routes []sdk.Route) string {
	for _, rt := range routes {
		if c.routes[rt.ID].allowGet {
			return "GET, HEAD, POST"
		}
	}
	return http.MethodPost
}

// reply writes an error status with a one-line text body, and logs it.
func (c *connector) reply(w http.ResponseWriter, r *http.Request, status int, msg string) {
	msg = c.secrets.String(msg)
	if status >= 500 {
		c.log.Warn("inbound request failed", "method", r.Method, "path", r.URL.Path, "status", status, "reason", msg)
	} else {
		c.log.Debug("inbound request refused", "method", r.Method, "path", r.URL.Path, "status", status, "reason", msg)
	}
	http.Error(w, msg, status)
}
