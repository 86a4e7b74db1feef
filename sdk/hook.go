package sdk

import (
	"github.com/aimdb-dev/aimdb-go/sdk/internal/hook"
	"github.com/aimdb-dev/aimdb-go/sdk/internal/life"
)

func init() {
	hook.Prepare = func(b *BuildContext, g *life.Group, deliver deliverFunc) {
		b.life = g
		b.Router = newRouter(b.Routes, deliver)
	}
	hook.NewRouter = newRouter
	hook.InstanceSecrets = instanceSecrets
}
