package benchbridge

import (
	"slices"
	"time"
)

// procKey identifies a process across samples, even if its PID is reused.
type procKey struct {
	pid   int
	start uint64
}

// ProcUsage is one process of a side at one moment.
type ProcUsage struct {
	// PID and Comm name the process.
	PID  int
	Comm string
	// CPU is its user plus system time so far; PeakRSS its VmHWM in bytes.
	CPU     time.Duration
	PeakRSS uint64
	key     procKey
}

// Usage is a side's process tree at one moment.
type Usage struct {
	// Procs are the live processes of the tree, the leader first.
	Procs []ProcUsage
}

// treeOf returns the live processes of the tree rooted at leader: its descendants
// (through every thread's children file) and every process still in its process
// group (which catches children re-parented after their parent exited).
func treeOf(leader int) []procStat {
	seen := map[int]bool{}
	var out []procStat
	queue := []int{leader}
	queue = append(queue, groupMembers(leader)...)
	for len(queue) > 0 && len(seen) < 10000 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		st, err := readStat(pid)
		if err != nil || st.state == 'Z' {
			continue
		}
		out = append(out, st)
		queue = append(queue, children(pid)...)
	}
	return out
}

// sampleTree reads CPU time and peak RSS of every live process of leader's tree.
func sampleTree(leader int) Usage {
	var u Usage
	for _, st := range treeOf(leader) {
		rss, _ := peakRSS(st.pid)
		u.Procs = append(u.Procs, ProcUsage{PID: st.pid, Comm: st.comm, CPU: st.cpu, PeakRSS: rss,
			key: procKey{st.pid, st.startTime}})
	}
	return u
}

// PeakRSS is the sum of the processes' peak RSS.
func (u Usage) PeakRSS() uint64 {
	var n uint64
	for _, p := range u.Procs {
		n += p.PeakRSS
	}
	return n
}

// CPUSince is the CPU time the tree spent since the earlier sample: processes new
// since then count in full. CPU of processes that exited in between is not seen.
func (u Usage) CPUSince(earlier Usage) time.Duration {
	var d time.Duration
	for _, p := range u.Procs {
		i := slices.IndexFunc(earlier.Procs, func(q ProcUsage) bool { return q.key == p.key })
		if i >= 0 {
			d += p.CPU - earlier.Procs[i].CPU
		} else {
			d += p.CPU
		}
	}
	return d
}
