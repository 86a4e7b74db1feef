package benchbridge

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A process tree whose leader exits on SIGTERM but leaves its children running is
// stopped whole: the orphans are found through the process group and stopped by PID.
func TestProcStopsWholeTree(t *testing.T) {
	dir := t.TempDir()
	p, err := startProc("tree", dir, filepath.Join(dir, "log"), nil,
		"sh", "-c", "sleep 60 & sleep 60 & wait")
	if err != nil {
		t.Fatal(err)
	}
	var u Usage
	for deadline := time.Now().Add(5 * time.Second); len(u.Procs) < 3 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		u = p.Usage()
	}
	if len(u.Procs) != 3 || u.Procs[0].PID != p.PID() {
		t.Fatalf("tree = %+v, want sh and two sleeps, leader first", u.Procs)
	}
	if u.PeakRSS() == 0 {
		t.Errorf("peak RSS of the tree is 0")
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, q := range u.Procs {
		if alive(q.key) {
			t.Errorf("process %d (%s) still alive after Stop", q.PID, q.Comm)
		}
	}
	if exited, _ := p.Exited(); !exited {
		t.Error("leader not reaped after Stop")
	}
}

func TestReadStatOfSelf(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.pid != os.Getpid() || st.ppid != os.Getppid() || st.startTime == 0 || st.state == 0 {
		t.Errorf("stat = %+v", st)
	}
	if rss, err := peakRSS(os.Getpid()); err != nil || rss == 0 {
		t.Errorf("peakRSS = %d, %v", rss, err)
	}
	if _, err := readStat(-1); err == nil {
		t.Error("readStat(-1) returned no error")
	}
}

func TestCPUSinceCountsNewProcessesInFull(t *testing.T) {
	a := ProcUsage{CPU: 5 * time.Second, key: procKey{1, 10}}
	b := ProcUsage{CPU: 2 * time.Second, key: procKey{2, 20}}
	before := Usage{Procs: []ProcUsage{{CPU: 3 * time.Second, key: a.key}, {CPU: 9 * time.Second, key: procKey{2, 19}}}}
	if got := (Usage{Procs: []ProcUsage{a, b}}).CPUSince(before); got != 4*time.Second {
		t.Errorf("CPUSince = %v, want 2s + 2s (pid 2 was reused)", got)
	}
}
