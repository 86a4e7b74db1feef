package plugin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aimdb-dev/aimdb-go/sdk"
)

// inbox records inbound deliveries per link.
type inbox struct {
	mu   sync.Mutex
	got  map[uint32][]string
	wake chan struct{}
}

func newInbox() *inbox { return &inbox{got: map[uint32][]string{}, wake: make(chan struct{}, 1)} }

func (b *inbox) deliver(m Inbound, _ func(error)) (error, bool) {
	if string(m.Payload) == "bad" {
		return sdk.Errorf(sdk.KindRejected, "link %d: payload did not deserialize", m.Route), true
	}
	b.mu.Lock()
	b.got[m.Route] = append(b.got[m.Route], string(m.Payload))
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return nil, true
}

// wait waits until cond holds on the recorded messages, up to 10 s.
func (b *inbox) wait(t *testing.T, what string, cond func(map[uint32][]string) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		b.mu.Lock()
		ok := cond(b.got)
		snap := fmt.Sprint(b.got)
		b.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-b.wake:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; got %.500s", what, snap)
		}
	}
}

func publishWait(t *testing.T, inst *Instance, link uint32, payloads ...string) []Failure {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs, err := inst.Publish(ctx, link, 0, bytesOf(payloads))
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func bytesOf(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func loopLinks() []Link {
	return []Link{
		{ID: 1, Direction: sdk.Outbound, Resource: "a/b", Record: "out"},
		{ID: 2, Direction: sdk.Inbound, Resource: "a/+", Record: "plus"},
		{ID: 3, Direction: sdk.Inbound, Resource: "a/#", Record: "hash"},
		{ID: 4, Direction: sdk.Inbound, Resource: "c", Record: "other"},
		{ID: 5, Direction: sdk.Outbound, Resource: "nowhere", Record: "out2"},
		{ID: 6, Direction: sdk.Outbound, Resource: "latest/r", Record: "out3"},
		{ID: 7, Direction: sdk.Inbound, Resource: "latest/r", Record: "latest"},
	}
}

func TestValuesFlowBothWaysWithWildcards(t *testing.T) {
	p := startLoopback(t)
	box := newInbox()
	inst, err := p.Build(context.Background(), InstanceSpec{
		Name: "lb", Scheme: "loopback", Options: sdk.Config{"fail_destination": "nowhere"},
		Links: loopLinks(), Deliver: box.deliver,
		Latest: func(_ context.Context, r string) ([]byte, error) { return []byte("latest of " + r), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if f := publishWait(t, inst, 1, "x", "y", "z"); len(f) != 0 {
		t.Fatalf("failures %v", f)
	}
	box.wait(t, "x,y,z on a/+ and a/#", func(g map[uint32][]string) bool {
		return strings.Join(g[2], ",") == "x,y,z" && strings.Join(g[3], ",") == "x,y,z"
	})
	f := publishWait(t, inst, 5, "lost")
	if len(f) != 1 || !errors.Is(f[0].Err, sdk.ErrInvalidDestination) || !strings.Contains(f[0].Err.Error(), "nowhere") {
		t.Fatalf("failures %v", f)
	}
	publishWait(t, inst, 6, "ignored")
	box.wait(t, "latest value via host control", func(g map[uint32][]string) bool {
		return len(g[7]) == 1 && g[7][0] == "latest of r"
	})
	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.got[4]) != 0 {
		t.Fatalf("route c got %v", box.got[4])
	}
}

func TestRejectionTravelsBackToConnector(t *testing.T) {
	p := startLoopback(t)
	box := newInbox()
	inst, err := p.Build(context.Background(), InstanceSpec{
		Name: "sync", Scheme: "loopback", Options: sdk.Config{"inject": "sync"},
		Links: loopLinks(), Deliver: box.deliver,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The connector's Router.Route waits for the host's ack; a refused payload comes
	// back to it as KindRejected and from it as the publish failure.
	f := publishWait(t, inst, 1, "ok", "bad")
	if len(f) != 1 || f[0].Index != 1 || !errors.Is(f[0].Err, sdk.ErrRejected) {
		t.Fatalf("failures %v", f)
	}
}

func TestPluginLogsReachHostLogWithNameAndLevel(t *testing.T) {
	cfg, logs := testConfig(t)
	p, err := Start(context.Background(), binDir+"/loopback", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if _, err := p.Build(context.Background(), InstanceSpec{Name: "chatty", Scheme: "loopback"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "loopback built") {
				if !strings.Contains(line, "[INFO]") || !strings.Contains(line, "loopback") || !strings.Contains(line, "chatty") {
					t.Fatalf("log line lacks level, plugin or instance: %s", line)
				}
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("plugin log line never reached the host log:\n%s", logs.String())
}

func TestBuildHealthAndCloseErrors(t *testing.T) {
	p := startLoopback(t)
	_, err := p.Build(context.Background(), InstanceSpec{Name: "broken", Scheme: "loopback", Options: sdk.Config{"build_error": "no broker configured"}})
	if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), `"broken"`) || !strings.Contains(err.Error(), "no broker configured") {
		t.Fatalf("build err = %v", err)
	}
	inst, err := p.Build(context.Background(), InstanceSpec{Name: "sick", Scheme: "echo", Options: sdk.Config{"unhealthy": "broker down"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Health(context.Background()); !errors.Is(err, sdk.ErrConnectionFailed) || !strings.Contains(err.Error(), "broker down") {
		t.Fatalf("health = %v", err)
	}
	if err := inst.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Build(context.Background(), InstanceSpec{Name: "x", Scheme: "nope"}); !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Fatalf("unknown scheme: %v", err)
	}
}

// A batch without a result when its plugin dies fails with a retryable error, the
// instance refuses batches while the plugin is down, and works again once it is
// back: the connector layer resends, not the process.
func TestPluginKilledMidStreamRestartsAndResumes(t *testing.T) {
	p := startLoopback(t)
	box := newInbox()
	inst, err := p.Build(context.Background(), InstanceSpec{Name: "lb", Scheme: "loopback", Links: loopLinks(), Deliver: box.deliver,
		Options: sdk.Config{"inject": "sync"}})
	if err != nil {
		t.Fatal(err)
	}
	if f := publishWait(t, inst, 1, "before"); len(f) != 0 {
		t.Fatalf("failures %v", f)
	}
	oldPid := p.Pid()
	syscall.Kill(oldPid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	sawDown := false
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		fs, err := inst.Publish(ctx, 1, 0, bytesOf([]string{"after"}))
		cancel()
		switch {
		case err != nil:
			if !sdk.Retryable(err) {
				t.Fatalf("publishing while the plugin is down: %v, want a retryable error", err)
			}
			sawDown = true
		case len(fs) == 0:
			goto back
		case !sdk.Retryable(fs[0].Err):
			t.Fatalf("batch in flight at the kill failed with %v, want a retryable error", fs[0].Err)
		default:
			sawDown = true
		}
		if time.Now().After(deadline) {
			t.Fatal("the plugin did not come back")
		}
		time.Sleep(5 * time.Millisecond)
	}
back:
	if !sawDown {
		t.Log("the plugin was back before the first publish after the kill")
	}
	if p.Pid() == oldPid || p.Pid() == 0 || p.State().Restarts != 1 {
		t.Fatalf("pid %d after kill of %d, state %+v", p.Pid(), oldPid, p.State())
	}
	box.wait(t, "the value published after the restart", func(g map[uint32][]string) bool {
		return len(g[2]) > 0 && g[2][len(g[2])-1] == "after"
	})
}

func TestPluginExitsWhenHostIsKilled(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), hostHelperEnv+"="+binDir+"/loopback")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper said %q", line)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	killed := time.Now()
	for time.Since(killed) < 2*time.Second {
		if !alive(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("plugin %d still alive 2 s after its host was killed", pid)
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// A plugin that keeps crashing is reported as a crash loop and still restarted.
func TestCrashLoopKeepsRestarting(t *testing.T) {
	cfg, logs := testConfig(t)
	cfg.Restart = RestartPolicy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Limit: 2, Window: time.Minute}
	p, err := Start(context.Background(), binDir+"/loopback", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for i := 0; i < 3; i++ {
		deadline := time.Now().Add(5 * time.Second)
		pid := p.Pid()
		for pid == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			pid = p.Pid()
		}
		if pid == 0 {
			t.Fatalf("the plugin did not come back after kill %d", i)
		}
		syscall.Kill(pid, syscall.SIGKILL)
		for p.Pid() == pid && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !p.State().Up && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st := p.State()
	if !st.Up || !st.CrashLoop || st.Restarts != 3 || !strings.Contains(logs.String(), "crash loop") {
		t.Fatalf("state %+v; log:\n%s", st, logs.String())
	}
	if _, err := p.Build(context.Background(), InstanceSpec{Name: "late", Scheme: "loopback"}); err != nil {
		t.Fatalf("build after the crash loop: %v", err)
	}
}
