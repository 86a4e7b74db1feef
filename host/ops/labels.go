package ops

import (
	"sync"

	dto "github.com/prometheus/client_model/go"

	"github.com/aimdb-dev/aimdb-go/host/connect"
)

// labelCache keeps the label pairs of every record and link series. Records and
// links do not change while the hub runs, so a scrape builds no labels: every series
// of a link shares its pairs, already sorted by name as the exposition wants.
type labelCache struct {
	mu      sync.Mutex
	records map[string][]*dto.LabelPair
	links   map[linkKey]*linkLabelSet
}

// linkKey identifies a link's series.
type linkKey struct{ record, direction, url string }

// linkLabelSet is a link's label pairs: alone, with each state, and with each error kind.
type linkLabelSet struct {
	base   []*dto.LabelPair
	states [4][]*dto.LabelPair // in the order of linkStates
	kinds  map[string][]*dto.LabelPair
}

func newLabelCache() labelCache {
	return labelCache{records: map[string][]*dto.LabelPair{}, links: map[linkKey]*linkLabelSet{}}
}

func pair(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }

// with returns base plus one pair whose name sorts after every name in base.
func with(base []*dto.LabelPair, name, value string) []*dto.LabelPair {
	return append(append(make([]*dto.LabelPair, 0, len(base)+1), base...), pair(name, value))
}

// record returns the pairs of a record's series.
func (c *labelCache) record(key string) []*dto.LabelPair {
	c.mu.Lock()
	defer c.mu.Unlock()
	lp, ok := c.records[key]
	if !ok {
		lp = []*dto.LabelPair{pair("record", key)}
		c.records[key] = lp
	}
	return lp
}

// link returns the pairs of a link's series (direction, link, record; then state).
func (c *labelCache) link(l connect.LinkStatus) *linkLabelSet {
	k := linkKey{l.Record, l.Direction, l.URL}
	c.mu.Lock()
	defer c.mu.Unlock()
	set, ok := c.links[k]
	if !ok {
		set = &linkLabelSet{base: []*dto.LabelPair{pair("direction", l.Direction), pair("link", l.URL), pair("record", l.Record)},
			kinds: map[string][]*dto.LabelPair{}}
		for i, s := range linkStates {
			set.states[i] = with(set.base, "state", string(s))
		}
		c.links[k] = set
	}
	return set
}

// failed returns the pairs of a link's failure counter of one error kind: kind sorts
// between direction and link.
func (c *labelCache) failed(l connect.LinkStatus, kind string) []*dto.LabelPair {
	set := c.link(l)
	c.mu.Lock()
	defer c.mu.Unlock()
	lp, ok := set.kinds[kind]
	if !ok {
		lp = []*dto.LabelPair{set.base[0], pair("kind", kind), set.base[1], set.base[2]}
		set.kinds[kind] = lp
	}
	return lp
}
