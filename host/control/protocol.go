// Package control is AimDB's control socket: a Unix socket on which `aimdb record ...`
// and scripts list, read, set and watch the records of a running instance.
//
// The socket speaks newline-delimited JSON in the framing of upstream AimDB's AimX v3
// protocol: every frame is an object tagged by "t". The server works over the small
// Backend interface, so it does not depend on how the database is built.
package control

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ProtocolVersion is the AimX framing version the server and client speak.
const ProtocolVersion = "3"

// Frame tags ("t").
const (
	TagReq          = "req"          // client: {id, method, params}
	TagReply        = "reply"        // server: {id, ok} or {id, err, msg}
	TagSub          = "sub"          // client: {id, topic}; topic may hold * and #
	TagSubscribed   = "subscribed"   // server: {sub, topics}: the records the pattern matched
	TagEvent        = "event"        // server: {sub, seq, topic, data, lag}
	TagSnap         = "snap"         // server: {sub, topic, data}: a record's newest value when the subscription starts
	TagUnsub        = "unsub"        // client: {sub}
	TagUnsubscribed = "unsubscribed" // server: {sub, msg}: the server ended a subscription
	TagWrite        = "write"        // client: {topic, payload}, fire-and-forget unless it has an id
	TagPing         = "ping"         // client: {} -> pong
	TagPong         = "pong"         // server
)

// Methods a req frame may call.
const (
	MethodHello      = "hello"
	MethodRecordList = "record.list"
	MethodRecordGet  = "record.get"
	MethodRecordSet  = "record.set"
	MethodGraphNodes = "graph.nodes"
	MethodGraphEdges = "graph.edges"
	MethodGraphTopo  = "graph.topo_order"
	// MethodLinkList and MethodConnectorList report the connector layer's state.
	MethodLinkList      = "link.list"
	MethodConnectorList = "connector.list"
)

// Error codes in the err field of a reply.
const (
	CodeNotFound   = "not_found"   // no such record, method or subscription
	CodeDenied     = "denied"      // the record may not be written through the socket
	CodeBadRequest = "bad_request" // the frame or its parameters are malformed
	CodeLimit      = "limit"       // too many connections or subscriptions, or a frame too large
	CodeBufferFull = "buffer_full" // the record refused the value: an at-least-once link is a full ring behind
	CodeInternal   = "internal"    // anything else
)

// Sentinel errors a Backend returns (wrapped, with details) so the server can pick
// the error code.
var (
	ErrNotFound = errors.New("not found")
	ErrDenied   = errors.New("denied")
	ErrInvalid  = errors.New("invalid value")
	ErrNoValue  = errors.New("no value yet")
	// ErrBufferFull: the record refused the value for now (back-pressure).
	ErrBufferFull = errors.New("buffer full")
)

// Frame is one line on the socket. Which fields are set depends on T.
type Frame struct {
	T       string          `json:"t"`
	ID      uint64          `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	OK      json.RawMessage `json:"ok,omitempty"`
	Err     string          `json:"err,omitempty"`
	Msg     string          `json:"msg,omitempty"`
	Sub     uint64          `json:"sub,omitempty"`
	Seq     uint64          `json:"seq,omitempty"`
	Lag     uint64          `json:"lag,omitempty"`
	Topic   string          `json:"topic,omitempty"`
	Topics  []string        `json:"topics,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// KeyParams are the params of record.get.
type KeyParams struct {
	Key string `json:"key"`
}

// SetParams are the params of record.set.
type SetParams struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// Hello is the result of the hello method.
type Hello struct {
	Protocol      string   `json:"protocol"`
	Version       string   `json:"version"`
	Server        string   `json:"server"`
	ServerVersion string   `json:"server_version,omitempty"`
	Permissions   []string `json:"permissions"`
	Writable      []string `json:"writable"`
	MaxSubs       int      `json:"max_subscriptions"`
	MaxWatched    int      `json:"max_watched_records"`
	MaxFrame      int      `json:"max_frame_bytes"`
	// IdleTimeoutMS is how many milliseconds of silence close a connection (see Options).
	IdleTimeoutMS int64 `json:"idle_timeout_ms"`
}

// RemoteError is an error reply from the server.
type RemoteError struct {
	Code string // one of the Code... constants
	Msg  string
}

// Error prints "code: message".
func (e *RemoteError) Error() string {
	if e.Msg == "" {
		return e.Code
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Msg)
}

// codeOf picks the error code for a Backend error.
func codeOf(err error) string {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoValue):
		return CodeNotFound
	case errors.Is(err, ErrDenied):
		return CodeDenied
	case errors.Is(err, ErrInvalid):
		return CodeBadRequest
	case errors.Is(err, ErrBufferFull):
		return CodeBufferFull
	}
	return CodeInternal
}
