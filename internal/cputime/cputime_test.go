package cputime

import (
	"os"
	"testing"
	"time"
)

// TestSelfAndProcess: CPU time spent shows in both readings of this process, whatever
// else the machine is doing (the work is measured in CPU time, not wall time).
func TestSelfAndProcess(t *testing.T) {
	s0, p0 := Self(), Process(os.Getpid())
	for deadline := time.Now().Add(30 * time.Second); Self()-s0 < 100*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatalf("Self rose only %v in 30 s of busy work", Self()-s0)
		}
	}
	if d := Process(os.Getpid()) - p0; d < 50*time.Millisecond {
		t.Errorf("Process rose %v while Self rose 100 ms", d)
	}
	if Process(-1) != 0 {
		t.Errorf("Process of no process is not 0")
	}
}
