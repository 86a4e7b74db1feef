package grpcconn_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: a closed
// connector must stop its connection, streams and reflection calls.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
