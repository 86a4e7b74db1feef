package mqtt

import (
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// A link's first message on a connection carries its topic and alias, the later ones
// the alias alone; a new connection starts again; without a granted alias, or with
// topic_alias = false, the topic goes every time.
func TestTopicAliasPerConnection(t *testing.T) {
	p := &v5LinkPublisher{topic: "a/long/topic", props: v5LinkTo{topicAlias: true}}
	send := func(cur *v5Session) (string, uint16) {
		pkt := &packets.Publish{Topic: p.topic, Properties: &packets.Properties{}}
		if p.useAlias(cur, pkt) {
			p.alias.sent = true
		}
		var n uint16
		if pkt.Properties.TopicAlias != nil {
			n = *pkt.Properties.TopicAlias
		}
		return pkt.Topic, n
	}
	first := &v5Session{limits: v5Limits{topicAliasMax: 10}}
	for i, want := range []struct {
		topic string
		alias uint16
	}{{"a/long/topic", 1}, {"", 1}, {"", 1}} {
		if topic, n := send(first); topic != want.topic || n != want.alias {
			t.Fatalf("message %d: topic %q alias %d, want %q %d", i, topic, n, want.topic, want.alias)
		}
	}
	second := &v5Session{limits: v5Limits{topicAliasMax: 10}}
	if topic, n := send(second); topic != "a/long/topic" || n != 1 {
		t.Fatalf("new connection: topic %q alias %d", topic, n)
	}
	none := &v5Session{}
	if topic, n := send(none); topic != "a/long/topic" || n != 0 {
		t.Fatalf("no alias granted: topic %q alias %d", topic, n)
	}
	p.props.topicAlias = false
	if topic, n := send(second); topic != "a/long/topic" || n != 0 {
		t.Fatalf("topic_alias = false: topic %q alias %d", topic, n)
	}
}
