package connect

import (
	"github.com/aimdb-dev/aimdb-go/host"
)

// ringSource reads a link's values straight from its record.
type ringSource struct{ rd *host.LinkReader }

func (r ringSource) tryNext() ([]byte, error) { return r.rd.TryNext() }
func (r ringSource) notify(wake func()) bool  { return r.rd.Notify(wake) }
func (r ringSource) release(n int)            { r.rd.Release(n) }
func (r ringSource) backlog() uint64          { return r.rd.Backlog() }
func (r ringSource) close()                   { r.rd.Close() }
