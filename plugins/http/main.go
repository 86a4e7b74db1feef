// Command http is the AimDB HTTP connector plugin: webhooks out, an HTTP endpoint in.
package main

import (
	"github.com/aimdb-dev/aimdb-go/connectors/httpconn"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

func main() { serve.Connectors(httpconn.NewBuilder()) }
