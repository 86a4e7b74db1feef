// Command kafka is the Kafka connector as an AimDB plugin process.
package main

import (
	"github.com/aimdb-dev/aimdb-go/connectors/kafka"
	"github.com/aimdb-dev/aimdb-go/sdk/serve"
)

func main() { serve.Connectors(kafka.NewBuilder()) }
