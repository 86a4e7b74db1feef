package benchbridge

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a process has to exit after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// Proc is a started process tree: a leader in its own process group and whatever it
// starts. It is stopped by PID, never by name.
type Proc struct {
	// Name labels the process in messages; LogPath holds its stdout and stderr.
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// startProc runs argv in dir with stdout and stderr going to logPath, as the leader
// of a new process group that dies with the benchmark (parent-death signal).
func startProc(name, dir, logPath string, env []string, argv ...string) (*Proc, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: log file: %w", name, err)
	}
	defer log.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, strings.Join(argv, " "), err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	return p, nil
}

// PID is the leader's process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the leader has exited, with its exit error.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// Usage samples the CPU time and peak RSS of every live process of the tree.
func (p *Proc) Usage() Usage { return sampleTree(p.PID()) }

// LogTail returns the last n bytes of the process's log, for error messages.
func (p *Proc) LogTail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// Stop sends SIGTERM to the leader and waits up to 5 s for it, then SIGKILL; then it
// does the same for any process of the tree still alive (each checked by PID and
// start time, so a reused PID is never signalled).
func (p *Proc) Stop() error {
	members := treeOf(p.PID())
	var errs []error
	if err := stopOne(p.PID(), p.done); err != nil {
		errs = append(errs, fmt.Errorf("stop %s leader %d: %w", p.Name, p.PID(), err))
	}
	for _, m := range members {
		if m.pid == p.PID() || !alive(procKey{m.pid, m.startTime}) {
			continue
		}
		if err := stopOne(m.pid, nil); err != nil {
			errs = append(errs, fmt.Errorf("stop %s process %d (%s): %w", p.Name, m.pid, m.comm, err))
		}
	}
	return errors.Join(errs...)
}

// stopOne terminates one process. done, if not nil, closes when it was reaped;
// otherwise /proc tells whether it is gone.
func stopOne(pid int, done <-chan struct{}) error {
	key := procKey{pid: pid}
	if st, err := readStat(pid); err == nil {
		key.start = st.startTime
	}
	gone := func() bool {
		if done != nil {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}
		return !alive(key)
	}
	if gone() {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(stopGrace); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if gone() {
			return nil
		}
	}
	if gone() || (done == nil && !alive(key)) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for deadline := time.Now().Add(stopGrace); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if gone() {
			return errors.New("did not exit within 5 s of SIGTERM; killed")
		}
	}
	return errors.New("still running 5 s after SIGKILL")
}

// alive reports whether the process still runs (not a zombie) with the same start time.
func alive(k procKey) bool {
	st, err := readStat(k.pid)
	return err == nil && st.state != 'Z' && (k.start == 0 || st.startTime == k.start)
}
