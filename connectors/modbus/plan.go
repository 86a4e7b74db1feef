package modbus

import (
	"cmp"
	"slices"
	"time"
)

// readReq is one read request of a poll group: count registers or bits of one table
// of one unit from addr, serving the links whose ranges it covers.
type readReq struct {
	unit  uint8
	table table
	addr  uint16
	count int
	links []*pollLink
}

// pollLink is one distinct link_from resource: the routes that name it share it.
type pollLink struct {
	resource string // as the routes name it: the router's topic
	link     link
	last     []byte // the last value the host took; nil before the first
}

// pollKey groups links that are read together.
type pollKey struct {
	poll  time.Duration
	unit  uint8
	table table
}

// plan merges the reads of links into as few requests as the protocol allows: links
// of one unit, table and poll interval whose ranges touch or overlap share a request,
// up to 125 registers (FC 3, 4) or 2000 bits (FC 1, 2) each. The requests come
// grouped by poll interval.
func plan(links []*pollLink) map[time.Duration][]*readReq {
	groups := map[pollKey][]*pollLink{}
	for _, pl := range links {
		k := pollKey{pl.link.poll, pl.link.res.unit, pl.link.res.table}
		groups[k] = append(groups[k], pl)
	}
	out := map[time.Duration][]*readReq{}
	keys := make([]pollKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b pollKey) int {
		return cmp.Or(cmp.Compare(a.poll, b.poll), cmp.Compare(a.unit, b.unit), cmp.Compare(a.table, b.table))
	})
	for _, k := range keys {
		g := groups[k]
		slices.SortStableFunc(g, func(a, b *pollLink) int {
			return cmp.Or(cmp.Compare(a.link.res.addr, b.link.res.addr), cmp.Compare(a.link.codec.count, b.link.codec.count))
		})
		limit := maxReadRegisters
		if k.table.bits() {
			limit = maxReadBits
		}
		var cur *readReq
		for _, pl := range g {
			start, end := int(pl.link.res.addr), int(pl.link.res.addr)+pl.link.codec.count
			if cur != nil && start <= int(cur.addr)+cur.count && end-int(cur.addr) <= limit {
				cur.count = max(cur.count, end-int(cur.addr))
				cur.links = append(cur.links, pl)
				continue
			}
			cur = &readReq{unit: k.unit, table: k.table, addr: uint16(start), count: end - start, links: []*pollLink{pl}}
			out[k.poll] = append(out[k.poll], cur)
		}
	}
	return out
}
