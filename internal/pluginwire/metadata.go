package pluginwire

import (
	"strings"

	pb "github.com/aimdb-dev/aimdb-go/proto/pluginv2"
	"github.com/aimdb-dev/aimdb-go/sdk"
)

// MetadataToPB converts the metadata of message index of an inbound batch. Text that
// is not valid UTF-8 (which protobuf strings refuse) has its bad bytes replaced, so a
// message with a malformed property still crosses; property values are bytes and cross
// as they are.
func MetadataToPB(index uint32, m *sdk.Metadata) *pb.Metadata {
	out := &pb.Metadata{
		Index:           index,
		ContentType:     validUTF8(m.ContentType),
		ResponseTopic:   validUTF8(m.ResponseTopic),
		CorrelationData: m.CorrelationData,
	}
	if len(m.Properties) > 0 {
		out.Properties = make([]*pb.Property, len(m.Properties))
		for i, p := range m.Properties {
			out.Properties[i] = &pb.Property{Name: validUTF8(p.Name), Value: []byte(p.Value)}
		}
	}
	return out
}

// MetadataFromPB converts an inbound message's metadata back.
func MetadataFromPB(m *pb.Metadata) *sdk.Metadata {
	out := &sdk.Metadata{ContentType: m.ContentType, ResponseTopic: m.ResponseTopic, CorrelationData: m.CorrelationData}
	if len(m.Properties) > 0 {
		out.Properties = make([]sdk.Property, len(m.Properties))
		for i, p := range m.Properties {
			out.Properties[i] = sdk.Property{Name: p.Name, Value: string(p.Value)}
		}
	}
	return out
}

func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
