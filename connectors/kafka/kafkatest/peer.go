package kafkatest

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/aimdb-dev/aimdb-go/sdk/conformance"
)

// PeerTopics are the topics a Peer's cluster holds for the conformance checks.
var PeerTopics = []string{"conformance-a", "conformance-b", "conformance-c"}

// Peer is a kfake cluster as the conformance kit sees it: it reads what a connector
// produces, produces messages for it, and stops and restarts the cluster for the
// outage checks. It implements conformance.Peer and conformance.Outage.
type Peer struct {
	// Cluster is the cluster the peer drives.
	Cluster *Cluster
	client  *kgo.Client
}

var (
	_ conformance.Peer   = (*Peer)(nil)
	_ conformance.Outage = (*Peer)(nil)
)

// NewPeer starts a cluster holding PeerTopics (one partition each) plus opts, and the
// peer's own producer client; both stop when the test ends.
func NewPeer(t testing.TB, opts ...kfake.Opt) *Peer {
	t.Helper()
	p := &Peer{Cluster: StartCluster(t, append([]kfake.Opt{kfake.SeedTopics(1, PeerTopics...)}, opts...)...)}
	var err error
	p.client, err = kgo.NewClient(kgo.SeedBrokers(p.Cluster.Addr), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatalf("kafkatest: peer client: %v", err)
	}
	t.Cleanup(p.client.Close)
	return p
}

// URL is the connector URL of the peer's cluster.
func (p *Peer) URL() string { return p.Cluster.URL() }

// Resources names the topics the checks use; Kafka has no wildcard topics.
func (p *Peer) Resources() conformance.Resources {
	return conformance.Resources{Names: append([]string(nil), PeerTopics...)}
}

// Observe reads topic from its current end until ctx ends. The end offsets are taken
// before it returns, so a record produced after that is seen.
func (p *Peer) Observe(ctx context.Context, topic string) (<-chan []byte, error) {
	ends, err := p.endOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("kafkatest peer: observe %q: %w", topic, err)
	}
	offsets := map[int32]kgo.Offset{}
	for part, end := range ends {
		offsets[part] = kgo.NewOffset().At(end)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Cluster.Addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		return nil, err
	}
	ch := make(chan []byte, 1024)
	go func() {
		defer close(ch)
		defer cl.Close()
		for ctx.Err() == nil {
			fetches := cl.PollFetches(ctx)
			for _, r := range fetches.Records() {
				select {
				case ch <- r.Value:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch, nil
}

// endOffsets returns the next offset of every partition of topic.
func (p *Peer) endOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, p.client)
	if err != nil {
		return nil, err
	}
	if len(mresp.Topics) != 1 {
		return nil, fmt.Errorf("metadata names %d topics", len(mresp.Topics))
	}
	if err := kerr.ErrorForCode(mresp.Topics[0].ErrorCode); err != nil {
		return nil, err
	}
	list := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for _, part := range mresp.Topics[0].Partitions {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition = part.Partition
		lp.Timestamp = -1 // the end
		lt.Partitions = append(lt.Partitions, lp)
	}
	list.Topics = append(list.Topics, lt)
	shards := p.client.RequestSharded(ctx, list)
	out := map[int32]int64{}
	for _, sh := range shards {
		if sh.Err != nil {
			return nil, sh.Err
		}
		for _, t := range sh.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, part := range t.Partitions {
				if err := kerr.ErrorForCode(part.ErrorCode); err != nil {
					return nil, fmt.Errorf("partition %d: %w", part.Partition, err)
				}
				out[part.Partition] = part.Offset
			}
		}
	}
	return out, nil
}

// Inject produces payload to topic and waits for the cluster's acknowledgement.
func (p *Peer) Inject(ctx context.Context, topic string, payload []byte) error {
	return p.client.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: payload}).FirstErr()
}

// Stop stops the cluster; its data stays.
func (p *Peer) Stop(context.Context) error {
	p.Cluster.Stop()
	return nil
}

// Start starts the cluster again on the same port with its data.
func (p *Peer) Start(context.Context) error { return p.Cluster.restart() }
