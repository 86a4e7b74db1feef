package mqtt_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aimdb-dev/aimdb-go/connectors/mqtt"
	"github.com/aimdb-dev/aimdb-go/sdk"
	"github.com/aimdb-dev/aimdb-go/sdk/run"
)

// An instance with its own embedded broker, driven in-process: it receives what is
// published on "demo/#" and publishes with QoS 1.
func ExampleNewBuilder() {
	got := make(chan string, 1)
	inst, err := run.Start(context.Background(), mqtt.NewBuilder(), run.Config{
		Name:    "mqtt",
		URL:     sdk.MustParseURL("mqtt://127.0.0.1:1883"),
		Options: sdk.Config{"embedded_broker": "127.0.0.1:0"}, // any free port
		Routes:  []sdk.Route{{ID: 1, Resource: "demo/#", Record: "demo"}},
		Sink: run.SinkFunc(func(m run.Message, ack func(error)) {
			got <- fmt.Sprintf("route %d got %q on %s", m.RouteID, m.Payload, m.Topic)
			ack(nil)
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer inst.Close(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := inst.Publish(ctx, "demo/temp", sdk.Config{"qos": "1"}, []byte("21.5")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-got)
	// Output: route 1 got "21.5" on demo/temp
}
