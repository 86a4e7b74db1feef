package main

import (
	"fmt"
	"runtime"

	"github.com/aimdb-dev/aimdb-go/host/control"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// versionLine is what `aimdb version` and `aimdb --version` print.
func versionLine() string {
	return fmt.Sprintf("aimdb %s (%s, %s/%s, control protocol aimx/%s)", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, control.ProtocolVersion)
}

func (a *app) newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "print the version",
		Example: "  aimdb version\n  aimdb --version",
		Args:    positional(0, 0, "no arguments"),
		RunE: runE(func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(a.stdout, versionLine())
			return err
		}),
	}
}
