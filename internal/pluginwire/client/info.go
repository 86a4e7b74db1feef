package client

import (
	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Info is what a plugin says about itself (Describe), for the host and `aimdb plugins list`.
type Info struct {
	// Path is the plugin executable; Name is its file name, used in logs.
	Path, Name string
	// ProtocolVersion is the wire protocol the plugin speaks.
	ProtocolVersion int
	// SDKVersion is the version of the SDK the plugin was built with.
	SDKVersion string
	// Kinds are the connector kinds the plugin serves, one per scheme.
	Kinds []Kind
	// Limits are the plugin's boundary limits.
	Limits Limits
}

// Kind is one connector kind a plugin serves.
type Kind struct {
	Scheme string
	sdk.Description
}

// Limits are the message and batch limits a plugin announced.
type Limits struct {
	MaxMessageBytes    uint64
	MaxBatchMessages   uint32
	MaxBatchBytes      uint64
	MaxBatchesInFlight uint32
	MaxInboundInFlight uint32
}

// Schemes lists the schemes of the plugin's kinds.
func (i Info) Schemes() []string {
	out := make([]string, len(i.Kinds))
	for n, k := range i.Kinds {
		out[n] = k.Scheme
	}
	return out
}

// Kind returns the kind of scheme, if the plugin serves it.
func (i Info) Kind(scheme string) (Kind, bool) {
	for _, k := range i.Kinds {
		if k.Scheme == scheme {
			return k, true
		}
	}
	return Kind{}, false
}

func infoFromPB(path, name string, d *pb.DescribeResponse) Info {
	info := Info{Path: path, Name: name, ProtocolVersion: int(d.ProtocolVersion), SDKVersion: d.SdkVersion}
	if l := d.Limits; l != nil {
		info.Limits = Limits{l.MaxMessageBytes, l.MaxBatchMessages, l.MaxBatchBytes, l.MaxBatchesInFlight, l.MaxInboundInFlight}
	}
	for _, k := range d.Kinds {
		kind := Kind{Scheme: k.Scheme, Description: sdk.Description{
			Version: k.Version, Capabilities: k.Capabilities, MaxPayload: int(k.MaxPayload)}}
		for _, o := range k.Options {
			kind.Options = append(kind.Options, sdk.OptionDoc{Name: o.Name, Scope: o.Scope, Doc: o.Doc, Default: o.Default, Secret: o.Secret})
		}
		info.Kinds = append(info.Kinds, kind)
	}
	return info
}
