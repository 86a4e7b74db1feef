package ops

import (
	"encoding/json"
	"net/http"

	"github.com/aimdb-dev/aimdb-go/host"
	"github.com/aimdb-dev/aimdb-go/host/connect"
)

// Readiness is the body of /readyz.
type Readiness struct {
	Ready bool `json:"ready"`
	// Reasons lists everything that keeps the hub from being ready; empty when ready.
	Reasons []Reason `json:"reasons"`
}

// Reason is one connector instance that is not connected, or one link that is
// failing or blocked.
type Reason struct {
	// Connector names the instance, or Link the link (with its Record).
	Connector string `json:"connector,omitempty"`
	Link      string `json:"link,omitempty"`
	Record    string `json:"record,omitempty"`
	Direction string `json:"direction,omitempty"`
	// State is the connector's or the link's state; Detail says why.
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
	// Links names the links of a connector that is not connected, with their states.
	Links []LinkRef `json:"links,omitempty"`
}

// LinkRef names a link and its state.
type LinkRef struct {
	Record    string `json:"record"`
	Direction string `json:"direction"`
	URL       string `json:"url"`
	State     string `json:"state"`
}

// Ready reports whether every connector instance is connected and no link is
// failing or blocked, and why not.
func Ready(db *host.DB) Readiness {
	r := Readiness{Ready: true, Reasons: []Reason{}}
	svc := connect.Of(db)
	if svc == nil {
		return r
	}
	links := svc.Links()
	for _, c := range svc.Connectors() {
		if c.State == "connected" {
			continue
		}
		reason := Reason{Connector: c.Name, State: c.State, Detail: c.Health}
		for _, l := range links {
			if l.Instance == c.Name {
				reason.Links = append(reason.Links, LinkRef{Record: l.Record, Direction: l.Direction, URL: l.URL, State: string(l.State)})
			}
		}
		r.Reasons = append(r.Reasons, reason)
	}
	for _, l := range links {
		if l.State != connect.StateFailing && l.State != connect.StateBlocked {
			continue
		}
		reason := Reason{Link: l.URL, Record: l.Record, Direction: l.Direction, State: string(l.State)}
		if l.LastError != nil {
			reason.Detail = l.LastError.Text
		}
		r.Reasons = append(r.Reasons, reason)
	}
	r.Ready = len(r.Reasons) == 0
	return r
}

// healthz answers 200 while the process serves.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers 200 when Ready, else 503, with the Readiness as JSON.
func readyz(db *host.DB) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		r := Ready(db)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !r.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
	}
}
