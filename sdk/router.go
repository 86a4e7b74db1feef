package sdk

import (
	"context"
	"errors"
	"sync"

	"github.com/aimdb-dev/aimdb-go/internal/wildcard"
)

// Route is one inbound link that the host declared for a connector instance:
// messages on topics matching Resource become values of one record.
type Route struct {
	// ID identifies the route within its connector instance; the host assigns it.
	ID uint32
	// Resource is the topic, group address or path pattern after "://" in link_from.
	// It matches exactly, or with MQTT-style wildcards: "+" is one level, a final "#" the rest.
	Resource string
	// Config holds the link's options (for example qos, dpt).
	Config Config
	// Record is the key of the record the route feeds, for logs and errors.
	Record string
}

// Router dispatches inbound messages to the routes whose pattern matches the topic,
// and so to the host. BuildContext.Router is the instance's. It is safe for
// concurrent use.
type Router struct {
	routes  []Route
	exact   map[string][]int // resource -> route indexes, for patterns without wildcards
	wild    []int            // indexes of patterns with "+" or "#"
	deliver deliverFunc
}

// deliverFunc hands one inbound message of route to the host; ack is called once, with
// nil when the host took the value. meta is nil when the message carries none. The
// runner (sdk/run) supplies it through the hook package, as a func of this type.
type deliverFunc = func(route uint32, topic string, payload []byte, meta *Metadata, ack func(error))

// newRouter builds a router over routes that hands matching messages to deliver.
func newRouter(routes []Route, deliver deliverFunc) *Router {
	r := &Router{routes: routes, exact: make(map[string][]int), deliver: deliver}
	for i, rt := range routes {
		if HasWildcard(rt.Resource) {
			r.wild = append(r.wild, i)
		} else {
			r.exact[rt.Resource] = append(r.exact[rt.Resource], i)
		}
	}
	return r
}

// Routes returns the routes the router was built with.
func (r *Router) Routes() []Route { return r.routes }

// ResourceIDs lists the distinct route patterns, in route order: what a connector
// subscribes to.
func (r *Router) ResourceIDs() []string {
	seen := make(map[string]bool, len(r.routes))
	var out []string
	for _, rt := range r.routes {
		if !seen[rt.Resource] {
			seen[rt.Resource] = true
			out = append(out, rt.Resource)
		}
	}
	return out
}

// Match returns the routes whose pattern matches topic.
func (r *Router) Match(topic string) []Route {
	var buf [4]int
	idx := r.match(topic, buf[:0])
	out := make([]Route, len(idx))
	for n, i := range idx {
		out[n] = r.routes[i]
	}
	return out
}

// match appends the indexes of the routes matching topic to idx.
func (r *Router) match(topic string, idx []int) []int {
	idx = append(idx, r.exact[topic]...)
	for _, i := range r.wild {
		if TopicMatches(r.routes[i].Resource, topic) {
			idx = append(idx, i)
		}
	}
	return idx
}

// Dispatch hands the message to every matching route without waiting. ack, when not
// nil, is called exactly once: after every matching route was acknowledged (nil, or
// the joined errors), or at once with ErrNoRoute when nothing matched. It returns how
// many routes matched. payload must stay unchanged until ack is called.
// A message that matches one route costs no allocation here.
func (r *Router) Dispatch(topic string, payload []byte, ack func(error)) int {
	return r.DispatchWithMetadata(topic, payload, nil, ack)
}

// DispatchWithMetadata is Dispatch for a message that carries metadata (MQTT 5
// properties, for example); meta may be nil. meta must stay unchanged until ack is
// called.
func (r *Router) DispatchWithMetadata(topic string, payload []byte, meta *Metadata, ack func(error)) int {
	if meta.IsZero() {
		meta = nil
	}
	if ack == nil {
		ack = ignoreAck
	}
	var buf [4]int
	idx := r.match(topic, buf[:0])
	switch len(idx) {
	case 0:
		ack(Errorf(KindNoRoute, "no route for topic %q", topic))
	case 1:
		r.deliver(r.routes[idx[0]].ID, topic, payload, meta, ack)
	default:
		j := &join{left: len(idx), done: ack}
		for _, i := range idx {
			r.deliver(r.routes[i].ID, topic, payload, meta, j.ack)
		}
	}
	return len(idx)
}

func ignoreAck(error) {}

// Route hands the message to every matching route and waits until the host has
// acknowledged all of them, or ctx ends. Call it before committing a message
// upstream (MQTT PUBACK, Kafka offset): a nil result means the host has the value.
func (r *Router) Route(ctx context.Context, topic string, payload []byte) error {
	done := make(chan error, 1)
	r.Dispatch(topic, payload, func(err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return Wrap(KindTimeout, ctx.Err())
	}
}

// join gathers the acknowledgements of one message delivered to several routes.
type join struct {
	mu   sync.Mutex
	left int
	errs []error
	done func(error)
}

func (j *join) ack(err error) {
	j.mu.Lock()
	if err != nil {
		j.errs = append(j.errs, err)
	}
	j.left--
	last := j.left == 0
	j.mu.Unlock()
	if last {
		j.done(errors.Join(j.errs...))
	}
}

// HasWildcard reports whether pattern holds a "+" or "#" level.
func HasWildcard(pattern string) bool { return wildcard.Topic.Has(pattern) }

// TopicMatches reports whether topic matches pattern, with MQTT semantics: levels are
// separated by "/", "+" matches exactly one level, and a final "#" matches the parent
// level and everything below it.
func TopicMatches(pattern, topic string) bool { return wildcard.Topic.Match(pattern, topic) }

// ValidatePattern checks a route pattern: "#" only as the last level, and "+" and "#"
// only as whole levels. Errors are of KindInvalidDestination.
func ValidatePattern(pattern string) error {
	if err := wildcard.Topic.Validate(pattern, false); err != nil {
		return Wrap(KindInvalidDestination, err)
	}
	return nil
}
