package pluginwire

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

func TestMetadataRoundTrip(t *testing.T) {
	in := &sdk.Metadata{
		Properties:      []sdk.Property{{Name: "site", Value: "b"}, {Name: "site", Value: "c"}, {Name: "raw", Value: "\xff\x00"}},
		ContentType:     "application/json",
		ResponseTopic:   "reply/\xffx", // not UTF-8: protobuf would refuse the whole frame
		CorrelationData: []byte{0, 1, 2},
	}
	m := MetadataToPB(3, in)
	wire, err := proto.Marshal(&pb.InboundBatch{Metadata: []*pb.Metadata{m}})
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var b pb.InboundBatch
	if err := proto.Unmarshal(wire, &b); err != nil {
		t.Fatal(err)
	}
	out := MetadataFromPB(b.Metadata[0])
	want := *in
	want.ResponseTopic = "reply/\uFFFDx"
	if b.Metadata[0].Index != 3 || !reflect.DeepEqual(*out, want) {
		t.Fatalf("round trip: index %d, %+v; want %+v", b.Metadata[0].Index, *out, want)
	}
}
