package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// Header names the connector sets on every produced record.
const (
	HeaderKey        = "aimdb-key"         // the record key, when the link derives one
	HeaderProducedAt = "aimdb-produced-at" // production time, RFC 3339 with nanoseconds, UTC
)

// Connector is one Kafka connector instance: a producer client per distinct producer
// setting (made on first use) and a consumer client per consumer group.
type Connector struct {
	name     string
	log      hclog.Logger
	settings connSettings
	options  sdk.Config
	common   []kgo.Opt // seed brokers, TLS, SASL, hooks: shared by every client
	dial     dialTracker
	cancel   context.CancelFunc

	mu        sync.Mutex
	producers map[producerSettings]*kgo.Client
	closed    bool

	consumers []*groupConsumer // fixed after Build
	inbound   []string         // topics of all consumer groups

	published     atomic.Uint64
	publishErrors atomic.Uint64
}

// Stats are counters of one connector instance.
type Stats struct {
	Published     uint64 // records Kafka acknowledged
	PublishErrors uint64 // Publish calls that failed
	Delivered     uint64 // inbound records the host took
	Rejected      uint64 // inbound records the host refused (for example bad payload); skipped
	Unrouted      uint64 // inbound records that matched no route; skipped
}

// Stats returns the instance's counters.
func (c *Connector) Stats() Stats {
	s := Stats{Published: c.published.Load(), PublishErrors: c.publishErrors.Load()}
	for _, g := range c.consumers {
		s.Delivered += g.delivered.Load()
		s.Rejected += g.rejected.Load()
		s.Unrouted += g.unrouted.Load()
	}
	return s
}

// producer returns the client for settings s, making it on first use.
func (c *Connector) producer(s producerSettings) (*kgo.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, sdk.Errorf(sdk.KindClosed, "kafka connector %q is closed", c.name)
	}
	if cl := c.producers[s]; cl != nil {
		return cl, nil
	}
	opts := append([]kgo.Opt{}, c.common...)
	opts = append(opts,
		kgo.RequiredAcks(acksOf(s.acks)),
		kgo.ProducerBatchCompression(codecOf(s.compression)),
		kgo.ProducerLinger(s.linger),
		kgo.ProducerBatchMaxBytes(int32(s.batchMaxBytes)),
		// publish_timeout must hold even when a request was in flight as the broker
		// went away; the host then keeps the value and publishes it again, which may
		// store it twice (at least once), while franz-go's own retries stay deduplicated.
		kgo.AllowIdempotentProduceCancellation(),
	)
	if !s.idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidConfig, "producer settings: %w", err)
	}
	c.producers[s] = cl
	return cl, nil
}

func acksOf(s string) kgo.Acks {
	switch s {
	case "leader":
		return kgo.LeaderAck()
	case "none":
		return kgo.NoAck()
	}
	return kgo.AllISRAcks()
}

func codecOf(s string) kgo.CompressionCodec {
	switch s {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// Publish produces payload to topic and returns once Kafka acknowledged it as the
// link's acks option asks (see linkPublisher.PublishBatch; the host publishes through
// prepared links, this serves callers with one value).
func (c *Connector) Publish(ctx context.Context, topic string, cfg sdk.Config, payload []byte) error {
	return c.publish(ctx, topic, cfg, payload)
}

func (c *Connector) publish(ctx context.Context, topic string, cfg sdk.Config, payload []byte) error {
	link, err := parseLinkTo(c.options, topic, cfg)
	if err != nil {
		return fmt.Errorf("link_to \"kafka://%s\": %w", topic, err)
	}
	p := &linkPublisher{c: c, topic: topic, link: link}
	errs := []error{nil}
	p.PublishBatch(ctx, [][]byte{payload}, errs)
	return errs[0]
}

// linkPublisher publishes one link_to: its options are parsed once, and a batch is
// handed to franz-go whole (it batches and pipelines the records per partition, in
// order) before the acknowledgements are awaited.
type linkPublisher struct {
	c     *Connector
	topic string
	link  linkTo
}

// PrepareLink parses a link_to's options once and returns its publisher.
func (c *Connector) PrepareLink(l sdk.LinkSpec) (sdk.LinkPublisher, error) {
	link, err := parseLinkTo(c.options, l.Resource, l.Config)
	if err != nil {
		return nil, fmt.Errorf("link_to \"kafka://%s\": %w", l.Resource, err)
	}
	return &linkPublisher{c: c, topic: l.Resource, link: link}, nil
}

// PublishBatch produces payloads in order and waits, at most publish_timeout, until
// Kafka acknowledged each as the link's acks option asks (with acks = "none", until
// it was written). An unreachable cluster fails with KindConnectionFailed or
// KindTimeout, a missing topic with KindInvalidDestination.
func (p *linkPublisher) PublishBatch(ctx context.Context, payloads [][]byte, errs []error) {
	c, topic := p.c, p.topic
	cl, err := c.producer(p.link.producer)
	if err != nil {
		fill(errs, fmt.Errorf("link_to \"kafka://%s\": %w", topic, err))
		c.publishErrors.Add(uint64(len(payloads)))
		return
	}
	pctx, cancel := context.WithTimeout(ctx, c.settings.publishTimeout)
	defer cancel()
	done := make([]chan error, len(payloads))
	now := time.Now()
	for i, payload := range payloads {
		rec, err := p.record(payload, now)
		if err != nil {
			errs[i] = err
			continue
		}
		done[i] = make(chan error, 1)
		ch := done[i]
		cl.Produce(pctx, rec, func(_ *kgo.Record, err error) { ch <- err })
	}
	// franz-go notices pctx's end only at its next step, which can be seconds later
	// while a broker is away, so waiting stops at pctx's end; each record keeps its
	// own copy of its payload for as long as franz-go still holds it.
	for i, ch := range done {
		if ch == nil {
			c.publishErrors.Add(1)
			continue
		}
		var err error
		select {
		case err = <-ch:
		case <-pctx.Done():
			err = pctx.Err()
		}
		if err != nil {
			errs[i] = classifyProduce(err, topic, c.settings.autoCreate, c.dial.lastError())
			c.publishErrors.Add(1)
			continue
		}
		c.published.Add(1)
	}
}

// record makes the Kafka record of one payload: key, headers, a copy of the value.
func (p *linkPublisher) record(payload []byte, now time.Time) (*kgo.Record, error) {
	topic, link := p.topic, p.link
	key, err := link.key.keyOf(payload)
	if err != nil {
		return nil, fmt.Errorf("link_to \"kafka://%s\": %w", topic, err)
	}
	if limit := maxPayload(link.producer.batchMaxBytes); len(payload)+len(key) > limit {
		return nil, sdk.Errorf(sdk.KindMessageTooLarge, "link_to \"kafka://%s\": value of %d bytes (key %d) exceeds %d bytes (batch_max_bytes %d less room for headers)", topic, len(payload), len(key), limit, link.producer.batchMaxBytes)
	}
	rec := &kgo.Record{Topic: topic, Key: key, Timestamp: now, Value: bytes.Clone(payload)}
	if link.key.headers {
		if key != nil {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: HeaderKey, Value: key})
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: HeaderProducedAt, Value: []byte(now.UTC().Format(time.RFC3339Nano))})
	}
	return rec, nil
}

func fill(errs []error, err error) {
	for i := range errs {
		errs[i] = err
	}
}

// maxPayload is the largest key plus value a batch of batchMaxBytes takes, leaving
// room for the record's framing and the aimdb headers.
func maxPayload(batchMaxBytes int) int { return batchMaxBytes - 1024 }

// Health reports whether the brokers answer and every inbound topic exists, then any
// error a consumer group saw since it last received records.
func (c *Connector) Health(ctx context.Context) error {
	cl, err := c.producer(c.settings.producer)
	if err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	err = cl.Ping(hctx) // one pass over the brokers: fails fast when none answers
	var missing []string
	if err == nil {
		missing, err = topicsMissing(hctx, cl, c.inbound)
	}
	if err != nil {
		if d := c.dial.lastError(); d != nil {
			err = d
		}
		return sdk.Errorf(sdk.KindConnectionFailed, "kafka brokers %s unreachable: %v", strings.Join(c.settings.addrs, ","), err)
	}
	if len(missing) > 0 {
		return sdk.Errorf(sdk.KindInvalidDestination, "link_from topic %s does not exist (auto_create_topics is %v)", quoteAll(missing), c.settings.autoCreate)
	}
	for _, g := range c.consumers {
		if err := g.lastError(); err != nil {
			return fmt.Errorf("consumer group %q: %w", g.spec.settings.group, err)
		}
	}
	return nil
}

// topicsMissing asks the cluster's metadata which of topics do not exist.
func topicsMissing(ctx context.Context, cl *kgo.Client, topics []string) ([]string, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // empty, not nil: nil asks for every topic
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, t := range resp.Topics {
		if errors.Is(kerr.ErrorForCode(t.ErrorCode), kerr.UnknownTopicOrPartition) && t.Topic != nil {
			missing = append(missing, *t.Topic)
		}
	}
	return missing, nil
}

func quoteAll(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// Close stops the consumer groups (committing what the host took), then closes every
// client. Records still unacknowledged by the host are not committed: they come again.
func (c *Connector) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	var errs []error
	for _, g := range c.consumers {
		if err := g.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("kafka connector %q: consumer group %q: %w", c.name, g.spec.settings.group, err))
		}
	}
	c.closeClients()
	return errors.Join(errs...)
}

// closeClients closes the producer clients.
func (c *Connector) closeClients() {
	c.mu.Lock()
	c.closed = true
	clients := c.producers
	c.producers = map[producerSettings]*kgo.Client{}
	c.mu.Unlock()
	for _, cl := range clients {
		cl.Close()
	}
}

// retryBackoff is franz-go's wait before retrying a request or reconnecting: from
// 100ms doubling up to 2s, with jitter, so a returning broker is found quickly.
func retryBackoff(tries int) time.Duration {
	return sdk.Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}.Delay(max(tries, 0))
}

// dialTracker remembers the last failed broker connection, cleared by a successful one.
// It is a franz-go hook shared by every client of the instance.
type dialTracker struct {
	last atomic.Pointer[error]
}

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (d *dialTracker) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		d.last.Store(nil)
		return
	}
	e := fmt.Errorf("broker %s:%d: %w", meta.Host, meta.Port, err)
	d.last.Store(&e)
}

func (d *dialTracker) lastError() error {
	if p := d.last.Load(); p != nil {
		return *p
	}
	return nil
}

var _ kgo.HookBrokerConnect = (*dialTracker)(nil)
