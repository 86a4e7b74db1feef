package host

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

func TestLinksDescribeAndCarryValues(t *testing.T) {
	b := NewBuilder()
	Configure[Temperature](b, "sensors.temp", func(r *Registrar[Temperature]) {
		r.LinkTo("mqtt://user:secret@sensors/temp?qos=0&retain=true").WithOption("qos", "1")
	})
	Configure[int](b, "setpoint", func(r *Registrar[int]) {
		r.SingleLatest()
		r.LinkFrom("knx://1/2/3").WithCodec("text").WithOptions(sdk.Config{"dpt": "9.001"})
	})
	db, _ := startDB(t, b)
	links := db.Links()
	if len(links) != 2 {
		t.Fatalf("links: %+v", links)
	}
	out, in := links[0], links[1]
	if out.ID != 0 || out.Record != "sensors.temp" || out.Direction != sdk.Outbound || out.Codec != "json" ||
		out.URL.Scheme != "mqtt" || out.URL.Resource() != "sensors/temp" || out.URL.Password != "secret" ||
		out.Options["qos"] != "1" || out.Options["retain"] != "true" {
		t.Fatalf("outbound link: %+v", out)
	}
	if in.ID != 1 || in.Direction != sdk.Inbound || in.Codec != "text" || in.Options["dpt"] != "9.001" {
		t.Fatalf("inbound link: %+v", in)
	}

	// Outbound: the first reader was subscribed at Build and sees every value.
	p, _ := ProducerOf[Temperature](db, "sensors.temp")
	_ = p.Produce(Temperature{21.5})
	r, err := db.OpenLinkReader(out.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	payload, err := r.Next(ctx)
	if err != nil || string(payload) != `{"celsius":21.5}` {
		t.Fatalf("Next: %s, %v", payload, err)
	}
	if latest, err := db.LatestLink(out.ID); err != nil || string(latest) != `{"celsius":21.5}` {
		t.Fatalf("LatestLink: %s, %v", latest, err)
	}
	db.CountLink(out.ID, LinkDelivered, 1)
	db.CountLink(out.ID, LinkFailed, 2)

	// Inbound: payloads are decoded with the link's codec; bad ones are rejected.
	if err := db.DeliverLink(in.ID, []byte(" 42 ")); err != nil {
		t.Fatalf("DeliverLink: %v", err)
	}
	if v, ok, _ := Get[int](db, "setpoint"); !ok || v != 42 {
		t.Fatalf("setpoint after delivery: %d %v", v, ok)
	}
	err = db.DeliverLink(in.ID, []byte("warm"))
	if sdk.KindOf(err) != sdk.KindRejected || !strings.Contains(err.Error(), `knx://1/2/3 -> record "setpoint"`) || !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("bad payload: %v", err)
	}
	if latest, err := db.LatestLink(in.ID); err != nil || string(latest) != "42" {
		t.Fatalf("LatestLink of inbound text link: %s, %v", latest, err)
	}

	// Wrong directions and ids.
	if _, err := db.OpenLinkReader(in.ID); !errors.Is(err, ErrUnknownLink) {
		t.Fatalf("OpenLinkReader on inbound link: %v", err)
	}
	if err := db.DeliverLink(out.ID, []byte("{}")); sdk.KindOf(err) != sdk.KindNoRoute {
		t.Fatalf("DeliverLink on outbound link: %v", err)
	}
	if _, err := db.LinkStats(7); !errors.Is(err, ErrUnknownLink) {
		t.Fatalf("LinkStats(7): %v", err)
	}

	so, _ := db.LinkStats(out.ID)
	si, _ := db.LinkStats(in.ID)
	if so != (LinkStats{Delivered: 1, Failed: 2}) || si != (LinkStats{Received: 1}) {
		t.Fatalf("stats out %+v in %+v", so, si)
	}
	info, _ := db.Record("setpoint")
	if info.Writer != "link_from knx://1/2/3" || len(info.Links) != 1 || info.Links[0].Stats.Received != 1 {
		t.Fatalf("record info: %+v", info)
	}
}

func TestLinkReaderReportsLagAndSkipsUnencodable(t *testing.T) {
	b := NewBuilder()
	Configure[float64](b, "r", func(r *Registrar[float64]) {
		r.SPMCRing(2)
		r.LinkTo("mqtt://r").WithSerializer(func(v float64) ([]byte, error) {
			if v < 0 {
				return nil, errors.New("negative")
			}
			return json.Marshal(v)
		})
	})
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, _ := db.OpenLinkReader(0)
	defer r.Close()
	p, _ := ProducerOf[float64](db, "r")
	for _, v := range []float64{1, 2, 3, -4, 5} {
		_ = p.Produce(v)
	}
	ctx := context.Background()
	var lag *LagError
	if _, err := r.Next(ctx); !errors.As(err, &lag) || lag.Missed != 3 {
		t.Fatalf("first Next: %v, want lag of 3", err)
	}
	var enc *EncodeError
	if _, err := r.Next(ctx); !errors.As(err, &enc) {
		t.Fatalf("Next on -4: %v, want an EncodeError (the value is dead-lettered and still counts as read)", err)
	}
	if got, err := r.Next(ctx); err != nil || string(got) != "5" {
		t.Fatalf("Next after the unencodable value: %s %v", got, err)
	}
	st, _ := db.LinkStats(0)
	if st.Dropped != 3 || st.DeadLettered != 1 {
		t.Fatalf("link stats %+v, want 3 dropped and 1 dead-lettered", st)
	}
	dl, err := db.GetJSON(DeadLetterKey)
	if err != nil || !strings.Contains(string(dl), `"payload":"-4"`) || !strings.Contains(string(dl), `"direction":"link_to"`) ||
		!strings.Contains(string(dl), `"error_kind":"rejected"`) || !strings.Contains(string(dl), "negative") {
		t.Fatalf("dead letter: %s %v", dl, err)
	}
	if db.Links()[0].Codec != "custom" {
		t.Fatal("custom serializer not reported")
	}
}

func TestDeliverLinkAfterShutdownIsClosed(t *testing.T) {
	b := NewBuilder()
	Configure[json.RawMessage](b, "raw", func(r *Registrar[json.RawMessage]) { r.LinkFrom("http://hook/raw").WithCodec("raw") })
	db, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"a":1}`)
	if err := db.DeliverLink(0, payload); err != nil {
		t.Fatal(err)
	}
	payload[2] = 'X' // the connector may reuse its buffer
	if got, _ := db.GetJSON("raw"); string(got) != `{"a":1}` {
		t.Fatalf("raw value aliases the payload: %s", got)
	}
	_ = db.Close()
	if err := db.DeliverLink(0, payload); sdk.KindOf(err) != sdk.KindClosed {
		t.Fatalf("DeliverLink after Close: %v", err)
	}
}
