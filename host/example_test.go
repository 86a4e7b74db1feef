package host_test

import (
	"context"
	"fmt"

	"github.com/aimdb-dev/aimdb-go/host"
)

// A writable record feeds a transform; a consumer reads the result.
func Example() {
	b := host.NewBuilder()
	host.Configure[float64](b, "temp.celsius", func(r *host.Registrar[float64]) {
		r.SingleLatest().Writable()
	})
	host.Configure[string](b, "temp.label", func(r *host.Registrar[string]) {
		host.Transform(r, "temp.celsius", func(c float64) (string, bool) {
			return fmt.Sprintf("%.1f °F", c*9/5+32), true
		})
		r.LinkTo("mqtt://home/temp").WithCodec("text")
	})
	db, err := b.Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- db.Run(ctx) }()

	labels, _ := host.ConsumerOf[string](db, "temp.label")
	_ = db.SetJSON("temp.celsius", []byte("21.5"))
	v, _ := labels.Recv(ctx)
	fmt.Println(v)
	fmt.Println(db.Graph().Order)

	labels.Close()
	cancel()
	<-done
	// Output:
	// 70.7 °F
	// [temp.celsius temp.label aimdb.dead_letters]
}

// Build reports every configuration mistake at once.
func ExampleBuilder_Build() {
	b := host.NewBuilder()
	host.Configure[int](b, "a", func(r *host.Registrar[int]) { r.SPMCRing(0) })
	host.Configure[string](b, "a", nil)
	host.Configure[int](b, "b", func(r *host.Registrar[int]) { r.LinkTo("mqtt://out/b").WithCodec("yaml") })
	_, err := b.Build()
	fmt.Println(err)
	// Output:
	// record "a": spmc_ring capacity must be at least 1, got 0
	// record "a": declared with type int, configured again with type string
	// record "b": link "mqtt://out/b": unknown codec "yaml" (want json, text, raw)
}
