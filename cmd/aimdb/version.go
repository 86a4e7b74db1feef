package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"

	"github.com/aimdb-dev/aimdb-go/host/control"
)

func init() {
	register(&command{
		name:    "version",
		summary: "print the version",
		help:    "examples:\n  aimdb version",
		run: func(_ context.Context, a *app, _ *flag.FlagSet, _ []string) error {
			fmt.Fprintf(a.stdout, "aimdb %s (%s, %s/%s, control protocol aimx/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, control.ProtocolVersion)
			return nil
		},
	})
}
