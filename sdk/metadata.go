package sdk

// Metadata is what an inbound message carries beside its topic and payload, such as
// the properties of an MQTT 5 PUBLISH. A connector fills in what its protocol has and
// hands it over with Router.DispatchWithMetadata; the host passes it to records that
// ask for it (host.LinkFrom.WithMessageDeserializer), and the others never see it.
type Metadata struct {
	// Properties are name/value pairs in the order the message carried them (MQTT 5
	// user properties); a name may repeat.
	Properties []Property
	// ContentType describes the payload, for example "application/json".
	ContentType string
	// ResponseTopic is where the sender expects an answer (request/response).
	ResponseTopic string
	// CorrelationData ties an answer to its request; opaque bytes.
	CorrelationData []byte
}

// Property is one name/value pair of a message's metadata.
type Property struct {
	Name, Value string
}

// Get returns the value of the first property named name, and whether there is one.
func (m *Metadata) Get(name string) (string, bool) {
	if m == nil {
		return "", false
	}
	for _, p := range m.Properties {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

// IsZero reports whether m carries nothing.
func (m *Metadata) IsZero() bool {
	return m == nil || len(m.Properties) == 0 && m.ContentType == "" && m.ResponseTopic == "" && len(m.CorrelationData) == 0
}
