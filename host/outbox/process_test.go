package outbox

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runChild is the body of a re-executed test binary: mode "append" appends to an
// outbox until it is killed, printing "A <seq>" after each acknowledged Append and
// "R <seq>" after each Remove; mode "lock" holds the data directory until its
// standard input closes.
func runChild(mode string) int {
	dir := os.Getenv("AIMDB_OUTBOX_TEST_DIR")
	d, err := OpenDir(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer d.Close()
	switch mode {
	case "lock":
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
		return 0
	case "append", "append-remove":
		o, err := d.Open("crash -> test://link", Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("S %d\n", o.LastSeq())
		deadline := time.Now().Add(time.Minute) // a child left behind stops by itself
		for i := 0; time.Now().Before(deadline); i++ {
			next := o.LastSeq() + 1
			ps := make([][]byte, i%16+1)
			for j := range ps {
				ps[j] = seqPayload(next+uint64(j), 100)
			}
			last, err := o.Append(ps)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			fmt.Printf("A %d\n", last)
			if mode == "append-remove" && i%3 == 0 && last > 20 {
				if err := o.Remove(last - 20); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
				fmt.Printf("R %d\n", last-20)
			}
		}
		return 0
	case "append-links":
		// Three links append at once, so that their Appends share group commits.
		errc := make(chan error, 3)
		for l := range 3 {
			o, err := d.Open(fmt.Sprintf("crash -> test://link/%d", l), Options{})
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			go func() {
				deadline := time.Now().Add(time.Minute)
				for i := 0; time.Now().Before(deadline); i++ {
					next := o.LastSeq() + 1
					ps := make([][]byte, (i+l)%8+1)
					for j := range ps {
						ps[j] = seqPayload(next+uint64(j), 100)
					}
					last, err := o.Append(ps)
					if err != nil {
						errc <- err
						return
					}
					fmt.Printf("%d %d\n", l, last) // one write: lines from goroutines do not mix
				}
				errc <- nil
			}()
		}
		if err := <-errc; err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 2
}

// startChild re-executes the test binary in mode on dir and returns its output lines.
func startChild(t *testing.T, mode, dir string) (*exec.Cmd, *bufio.Scanner, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "AIMDB_OUTBOX_TEST_DIR="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, bufio.NewScanner(stdout), stdin
}

// crashRun starts an appending child, SIGKILLs it after it acknowledged killAfter
// Appends and returns its lines, including those it wrote before it died.
func crashRun(t *testing.T, mode, dir string, killAfter int) []string {
	t.Helper()
	cmd, sc, _ := startChild(t, mode, dir)
	var lines []string
	acks := 0
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if !strings.HasPrefix(sc.Text(), "S ") && !strings.HasPrefix(sc.Text(), "R ") {
			if acks++; acks == killAfter {
				if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
					t.Fatal(err)
				}
			}
		}
	}
	err := cmd.Wait()
	if acks < killAfter {
		t.Fatalf("child stopped after %d acknowledged appends: %v", acks, err)
	}
	if runtime.GOOS != "windows" && (err == nil || !strings.Contains(err.Error(), "killed")) {
		t.Fatalf("child was not killed: %v", err)
	}
	return lines
}

func field(t *testing.T, line string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(strings.TrimSpace(line[2:]), 10, 64)
	if err != nil {
		t.Fatalf("child line %q: %v", line, err)
	}
	return n
}

// presentAfterCrash reopens dir and returns the seqs of every stored entry, checking
// each payload.
func presentAfterCrash(t *testing.T, dir string) (seqs []uint64, last uint64) {
	t.Helper()
	return presentIn(t, dir, "crash -> test://link")
}

func presentIn(t *testing.T, dir, name string) (seqs []uint64, last uint64) {
	t.Helper()
	d := openDirT(t, dir)
	o := openT(t, d, name, Options{})
	for _, e := range readAll(t, o, 0) {
		checkPayload(t, e, 100)
		seqs = append(seqs, e.Seq)
	}
	if m, _ := o.Depth(); m != len(seqs) {
		t.Fatalf("Depth %d after reopen, but Read returns %d entries", m, len(seqs))
	}
	last = o.LastSeq()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return seqs, last
}

func TestCrashKeepsEveryAcknowledgedValue(t *testing.T) {
	dir := t.TempDir()
	acked := map[uint64]bool{}
	for round := range 3 {
		lines := crashRun(t, "append", dir, 100+50*round)
		start := field(t, lines[0])
		var top uint64
		for _, l := range lines[1:] {
			top = max(top, field(t, l))
		}
		for s := start + 1; s <= top; s++ {
			acked[s] = true
		}
	}
	seqs, last := presentAfterCrash(t, dir)
	present := map[uint64]bool{}
	dups := 0
	for i, s := range seqs {
		if present[s] {
			dups++
		}
		present[s] = true
		if i > 0 && s != seqs[i-1]+1 {
			t.Errorf("seq %d follows %d: not contiguous", s, seqs[i-1])
		}
	}
	lost := 0
	for s := range acked {
		if !present[s] {
			lost++
		}
	}
	t.Logf("3 SIGKILLed writers: acknowledged %d, present %d, lost %d, duplicates %d, last seq %d",
		len(acked), len(seqs), lost, dups, last)
	if lost != 0 || dups != 0 || len(seqs) == 0 || seqs[0] != 1 || seqs[len(seqs)-1] != last {
		t.Fatalf("lost %d, duplicates %d, seqs %d..%d, last %d", lost, dups, seqs[0], seqs[len(seqs)-1], last)
	}
}

func TestCrashAfterRemove(t *testing.T) {
	dir := t.TempDir()
	lines := crashRun(t, "append-remove", dir, 300)
	var topAck, topRemoved, durableRemoved, pendingRemove uint64
	for _, l := range lines[1:] {
		switch n := field(t, l); l[0] {
		case 'A':
			topAck = n
			// An Append returned after the Remove: the Remove is on disk with it.
			durableRemoved = max(durableRemoved, pendingRemove)
		case 'R':
			topRemoved = n
			pendingRemove = n
		}
	}
	seqs, _ := presentAfterCrash(t, dir)
	if len(seqs) == 0 {
		t.Fatal("nothing present")
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("seq %d follows %d: not contiguous", seqs[i], seqs[i-1])
		}
	}
	first, lastPresent := seqs[0], seqs[len(seqs)-1]
	resent := 0
	if first <= topRemoved {
		resent = int(topRemoved - first + 1)
	}
	lost := 0
	if first > topRemoved+1 {
		lost = int(first - topRemoved - 1)
	}
	if lastPresent < topAck {
		lost += int(topAck - lastPresent)
	}
	t.Logf("SIGKILLed writer with removes: acknowledged up to %d, removed up to %d (durable: %d), present %d..%d: lost %d, removed but present again %d",
		topAck, topRemoved, durableRemoved, first, lastPresent, lost, resent)
	if lost != 0 {
		t.Fatalf("lost %d acknowledged values", lost)
	}
	if first <= durableRemoved {
		t.Fatalf("entries from %d are back, but removes up to %d were followed by an acknowledged Append", first, durableRemoved)
	}
}

func TestDirLockFromAnotherProcess(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the data directory lock is flock, Unix only")
	}
	dir := t.TempDir()
	cmd, sc, stdin := startChild(t, "lock", dir)
	if !sc.Scan() || sc.Text() != "locked" {
		t.Fatalf("child did not lock: %q", sc.Text())
	}
	_, err := OpenDir(dir, nil)
	if err == nil {
		t.Fatal("OpenDir succeeded while another process holds the directory")
	}
	if want := fmt.Sprintf("process %d", cmd.Process.Pid); !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s and %s", err, dir, want)
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	d, err := OpenDir(dir, nil) // free again
	if err != nil {
		t.Fatalf("OpenDir after the holder exited: %v", err)
	}
	_ = d.Close()
}

func TestCrashWithLinksSharingCommits(t *testing.T) {
	dir := t.TempDir()
	lines := crashRun(t, "append-links", dir, 600)
	acked := make([]uint64, 3)
	for _, l := range lines {
		var link int
		var seq uint64
		if _, err := fmt.Sscanf(l, "%d %d", &link, &seq); err != nil || link < 0 || link > 2 {
			t.Fatalf("child line %q", l)
		}
		acked[link] = max(acked[link], seq)
	}
	for l := range 3 {
		seqs, last := presentIn(t, dir, fmt.Sprintf("crash -> test://link/%d", l))
		for i, s := range seqs {
			if s != uint64(i)+1 {
				t.Fatalf("link %d: entry %d has seq %d", l, i, s)
			}
		}
		t.Logf("link %d: acknowledged %d, present %d, lost %d, last seq %d", l, acked[l], len(seqs), max(0, int(acked[l])-len(seqs)), last)
		if uint64(len(seqs)) < acked[l] || last != uint64(len(seqs)) {
			t.Fatalf("link %d: acknowledged up to %d, present 1..%d, last seq %d", l, acked[l], len(seqs), last)
		}
	}
}
