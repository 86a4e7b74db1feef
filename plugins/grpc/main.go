// Command grpc is the gRPC connector as an AimDB plugin process.
package main

import (
	"github.com/aimdb-dev/aimdb-go/connectors/grpcconn"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

func main() { serve.Connectors(grpcconn.NewBuilder()) }
