package plugin

import "github.com/aimdb-dev/aimdb-go/internal/pluginwire/client"

// Info is what a plugin says about itself, for `aimdb plugins list`.
type Info = client.Info

// Kind is one connector kind a plugin serves.
type Kind = client.Kind

// Failure is the error of one message of an outbound batch.
type Failure = client.Failure

// Batch is consecutive values of one outbound link, cut by a Feed.
type Batch = client.Batch

// Feed supplies one outbound link's batches when the plugin's stream asks.
type Feed = client.Feed

// Inbound is one inbound message for an instance's link.
type Inbound = client.Inbound
