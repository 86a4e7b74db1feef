// Package testparallel lets a package's TestMain run more of its parallel tests at
// once than go test's default (one per core), for tests that mostly wait on peers,
// processes and timers rather than compute.
package testparallel

import (
	"flag"
	"runtime"
	"strconv"
)

// Default raises go test's -parallel to n (when it is below: it defaults to
// GOMAXPROCS) unless the command line set it. Call it in TestMain before m.Run.
func Default(n int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && n > runtime.GOMAXPROCS(0) {
		_ = flag.Set("test.parallel", strconv.Itoa(n))
	}
}
