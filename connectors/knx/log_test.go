package knx

import (
	"os"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// testLogger logs to the test output; AIMDB_KNX_DEBUG=1 shows debug lines.
func testLogger(t *testing.T) hclog.Logger {
	level := hclog.Warn
	if os.Getenv("AIMDB_KNX_DEBUG") != "" {
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: level, Output: testWriter{t}})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
