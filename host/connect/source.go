package connect

import (
	"context"

	"github.com/aimdb-dev/aimdb-go/host"
)

// ringSource reads a link's values straight from its record.
type ringSource struct{ rd *host.LinkReader }

func (r ringSource) next(ctx context.Context) ([]byte, error) { return r.rd.Next(ctx) }
func (r ringSource) tryNext() ([]byte, error)                 { return r.rd.TryNext() }
func (r ringSource) release(n int)                            { r.rd.Release(n) }
func (r ringSource) backlog() uint64                          { return r.rd.Backlog() }
func (r ringSource) close()                                   { r.rd.Close() }
