package shimserver

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/runtime/runtimetest"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
	"github.com/cricket-cri/cricket/pkg/shim/shimclient"
)

// fakeShim serves a Server backed by a fake executor on a socket in a temp
// dir and returns a client for it.
func fakeShim(t *testing.T) (*shimclient.Client, *runtimetest.Executor, string) {
	t.Helper()
	return fakeShimWith(t, nil)
}

// fakeShimWith is fakeShim with the fake set up before the server runs
// (the race detector does not see the socket between them as a barrier).
func fakeShimWith(t *testing.T, setup func(*runtimetest.Executor)) (*shimclient.Client, *runtimetest.Executor, string) {
	t.Helper()
	dir := t.TempDir()
	fake := runtimetest.New("fake")
	if setup != nil {
		setup(fake)
	}
	srv, err := NewServer(Config{
		PodID: "pod1", StateDir: dir,
		NewExecutor: func(h runtime.Handler) (runtime.Executor, error) { return fake, nil },
		Exits:       fake,
		Signal:      fake.Signal,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", shimapi.SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	t.Cleanup(srv.waitBackground) // no start record after the test's dir is gone
	lastServer.Store(srv)
	sl, err := listenStreams(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sl.Close() })
	go srv.serveStreams(sl)
	rs, err := newRPCServer(srv, func() { l.Close() })
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go rs.ServeConn(conn)
		}
	}()
	c, err := shimclient.Connect(context.Background(), shimapi.SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, fake, dir
}

func createRunning(t *testing.T, c *shimclient.Client, dir, id string) *shimapi.ContainerState {
	t.Helper()
	ctx := context.Background()
	st, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: id, Bundle: "/b/" + id, LogPath: filepath.Join(dir, id+".log")})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if st.Status != shimapi.StatusCreated || st.Pid == 0 {
		t.Fatalf("created state %+v", st)
	}
	if st, err = c.Start(ctx, id); err != nil || st.Status != shimapi.StatusRunning {
		t.Fatalf("Start = %+v, %v", st, err)
	}
	return st
}

func TestShimContainerLifecycle(t *testing.T) {
	c, fake, dir := fakeShim(t)
	ctx := context.Background()
	createRunning(t, c, dir, "c1")
	if err := fake.Write("c1", false, "hello\nwor"); err != nil {
		t.Fatal(err)
	}
	if err := fake.Write("c1", true, "oops\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx, "c1"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("second Start: %v, want FailedPrecondition", err)
	}
	if _, err := c.Delete(ctx, "c1", false); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Delete of running: %v, want FailedPrecondition", err)
	}
	fake.Exit("c1", 3)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := c.Wait(wctx, "c1")
	if err != nil || st.Exit == nil || st.Exit.ExitCode != 3 || st.Status != shimapi.StatusExited {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "c1.log"))
	// "wor" had no newline when the container exited: a partial record.
	for _, want := range []string{" stdout F hello\n", " stdout P wor\n", " stderr F oops\n"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	recs, err := shimclient.ReadRecords(dir)
	if err != nil || len(recs) != 1 || recs[0].Exit == nil || recs[0].Exit.ExitCode != 3 {
		t.Fatalf("ReadRecords = %+v, %v", recs, err)
	}
	if err := c.Kill(ctx, "c1", syscall.SIGTERM, false); err != nil {
		t.Fatalf("Kill of exited container: %v", err)
	}
	if _, err := c.Delete(ctx, "c1", false); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.State(ctx, "c1"); !errdefs.IsNotFound(err) {
		t.Fatalf("State after delete: %v, want NotFound", err)
	}
	if st, err := c.Delete(ctx, "c1", false); err != nil || st != nil {
		t.Fatalf("second Delete = %+v, %v", st, err)
	}
	if recs, _ := shimclient.ReadRecords(dir); len(recs) != 0 {
		t.Fatalf("records left after delete: %+v", recs)
	}
}

func TestShimKillAndEvents(t *testing.T) {
	c, _, dir := fakeShim(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := c.Subscribe(ctx, 0)
	createRunning(t, c, dir, "c1")
	if err := c.Kill(ctx, "c1", syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	var got []string
	for e := range events {
		got = append(got, string(e.Type))
		if e.Type == shimapi.EventExited {
			if e.ExitCode != 137 {
				t.Errorf("exit code %d, want 137", e.ExitCode)
			}
			break
		}
	}
	if strings.Join(got, ",") != "created,started,exited" {
		t.Fatalf("events %v", got)
	}
}

// TestShimKillWhileExitIsRecorded: a signal that reaches a container whose
// init has ended but whose exit is not recorded yet (the shim lets the
// output drain first, up to ioDrainTimeout while a left-behind process
// holds it) is success once the exit is recorded, not "not running": a
// StopContainer landing there failed with FailedPrecondition (found by
// test/fault in a shared-PID pod).
func TestShimKillWhileExitIsRecorded(t *testing.T) {
	c, fake, dir := fakeShim(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	createRunning(t, c, dir, "c1")
	held, err := fake.HoldOutput("c1")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	fake.Exit("c1", 0)
	if st, err := c.State(ctx, "c1"); err != nil || st.Status != shimapi.StatusRunning {
		t.Fatalf("State while the output drains = %+v, %v; want running (exit not recorded yet)", st, err)
	}
	if err := c.Kill(ctx, "c1", syscall.SIGTERM, false); err != nil {
		t.Fatalf("Kill of a container whose init ended: %v", err)
	}
	if st, err := c.State(ctx, "c1"); err != nil || st.Status != shimapi.StatusExited || st.Exit == nil || st.Exit.ExitCode != 0 {
		t.Fatalf("State after Kill = %+v, %v; want exited 0", st, err)
	}
}

func TestShimCreateErrors(t *testing.T) {
	c, fake, dir := fakeShim(t)
	ctx := context.Background()
	createRunning(t, c, dir, "c1")
	tests := []struct {
		desc  string
		req   shimapi.CreateRequest
		check func(error) bool
	}{
		{desc: "duplicate", req: shimapi.CreateRequest{ID: "c1", Bundle: "/b"}, check: errdefs.IsAlreadyExists},
		{desc: "no bundle", req: shimapi.CreateRequest{ID: "c2"}, check: errdefs.IsInvalidArgument},
		{desc: "log dir missing", req: shimapi.CreateRequest{ID: "c3", Bundle: "/b", LogPath: filepath.Join(dir, "no", "c3.log")}, check: func(err error) bool { return err != nil }},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := c.CreateContainer(ctx, tc.req); !tc.check(err) {
				t.Fatalf("CreateContainer: unexpected error %v", err)
			}
		})
	}
	fake.Err["Create"] = errdefs.ErrUnavailable
	if _, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: "c4", Bundle: "/b"}); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("executor failure: %v", err)
	}
	// A failed create releases the id.
	delete(fake.Err, "Create")
	if _, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: "c4", Bundle: "/b"}); err != nil {
		t.Fatalf("retry after failure: %v", err)
	}
}

func TestShimExecSync(t *testing.T) {
	c, fake, dir := fakeShim(t)
	ctx := context.Background()
	createRunning(t, c, dir, "c1")
	fake.ExecFunc = func(ctx context.Context, _ string, p *specs.Process, stdout, stderr *os.File) int {
		switch p.Args[0] {
		case "hang":
			<-ctx.Done()
			return 137
		case "big":
			_, _ = stdout.WriteString(strings.Repeat("y", 100))
			return 0
		}
		_, _ = stdout.WriteString("out\n")
		_, _ = stderr.WriteString("err\n")
		return 2
	}
	tests := []struct {
		desc string
		req  shimapi.ExecRequest
		want shimapi.ExecResult
	}{
		{desc: "output and code", req: shimapi.ExecRequest{Process: &specs.Process{Args: []string{"sh"}}},
			want: shimapi.ExecResult{ExitCode: 2, Stdout: []byte("out\n"), Stderr: []byte("err\n")}},
		{desc: "timeout kills", req: shimapi.ExecRequest{Process: &specs.Process{Args: []string{"hang"}}, Timeout: 50 * time.Millisecond},
			want: shimapi.ExecResult{ExitCode: 137, TimedOut: true}},
		{desc: "output capped", req: shimapi.ExecRequest{Process: &specs.Process{Args: []string{"big"}}, MaxOutput: 10},
			want: shimapi.ExecResult{Stdout: []byte("yyyyyyyyyy"), Truncated: true}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			tc.req.ID = "c1"
			res, err := c.ExecSync(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != tc.want.ExitCode || res.TimedOut != tc.want.TimedOut || res.Truncated != tc.want.Truncated ||
				string(res.Stdout) != string(tc.want.Stdout) || string(res.Stderr) != string(tc.want.Stderr) {
				t.Fatalf("ExecSync = %+v, want %+v", res, tc.want)
			}
		})
	}
	if _, err := c.ExecSync(ctx, shimapi.ExecRequest{ID: "nope", Process: &specs.Process{Args: []string{"sh"}}}); !errdefs.IsNotFound(err) {
		t.Fatalf("exec in missing container: %v", err)
	}
	if _, err := c.ExecSync(ctx, shimapi.ExecRequest{ID: "c1", Process: &specs.Process{}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("exec without args: %v", err)
	}
}

func TestShimReopenAndShutdown(t *testing.T) {
	c, fake, dir := fakeShim(t)
	ctx := context.Background()
	createRunning(t, c, dir, "c1")
	logPath := filepath.Join(dir, "c1.log")
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := c.ReopenLog(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(logPath); err != nil {
		t.Fatalf("log not reopened: %v", err)
	}
	if err := c.ReopenLog(ctx, "nope"); !errdefs.IsNotFound(err) {
		t.Fatalf("ReopenLog of missing container: %v", err)
	}
	if pids, err := c.Pids(ctx, "c1"); err != nil || len(pids) != 1 {
		t.Fatalf("Pids = %v, %v", pids, err)
	}
	if err := c.Shutdown(ctx, false); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Shutdown with a running container: %v", err)
	}
	if err := c.Shutdown(ctx, true); err != nil {
		t.Fatalf("forced Shutdown: %v", err)
	}
	if fake.Container("c1") != nil {
		t.Fatal("container not deleted by forced shutdown")
	}
}

// TestShimRequestsWaitForCreate: a Delete that comes while the container is
// still being created (a restarted daemon reconciles while the Create of
// its killed predecessor runs on) waits for the creation instead of using
// a container without executor (found by test/fault: the shim crashed on
// a nil pointer and took every container of its pod along).
func TestShimRequestsWaitForCreate(t *testing.T) {
	gate := make(chan struct{})
	c, _, dir := fakeShimWith(t, func(f *runtimetest.Executor) { f.CreateGate = gate })
	srv := lastServer.Load()
	ctx := context.Background()
	created := make(chan error, 1)
	go func() {
		_, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: "c1", Bundle: "/b/c1", LogPath: filepath.Join(dir, "c1.log")})
		created <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		srv.mu.Lock()
		_, ok := srv.containers["c1"]
		srv.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the creation never reached the server")
		}
	}
	deleted := make(chan error, 1)
	go func() {
		_, err := c.Delete(ctx, "c1", true)
		deleted <- err
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-deleted:
		t.Fatalf("Delete answered while the container was being created: %v", err)
	default:
	}
	close(gate)
	if err := <-created; err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if err := <-deleted; err != nil {
		t.Fatalf("Delete after the creation: %v", err)
	}
	if _, err := c.State(ctx, "c1"); !errdefs.IsNotFound(err) {
		t.Errorf("State after Delete: %v, want NotFound", err)
	}
}

// TestShimExitKillsOrphansWithoutOwnPidNamespace (issue 20): when the init
// of a container that shares its pod's pid namespace (or the host's) exits,
// the shim kills what it left running, so that nothing of the container
// runs on and the exit is not held up by an orphan's copy of stdout; the
// exit code is the init's. A container with its own pid namespace is left
// to the kernel, which ends the rest with its init.
func TestShimExitKillsOrphansWithoutOwnPidNamespace(t *testing.T) {
	tests := []struct {
		desc     string
		pidNS    *specs.LinuxNamespace
		killsAll bool
	}{
		{desc: "pod's pid namespace", pidNS: &specs.LinuxNamespace{Type: specs.PIDNamespace, Path: "/proc/1/ns/pid"}, killsAll: true},
		{desc: "host pid namespace", killsAll: true},
		{desc: "own pid namespace", pidNS: &specs.LinuxNamespace{Type: specs.PIDNamespace}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			c, fake, dir := fakeShim(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			bundle := filepath.Join(dir, "bundle")
			spec := &specs.Spec{Linux: &specs.Linux{}}
			if tc.pidNS != nil {
				spec.Linux.Namespaces = []specs.LinuxNamespace{*tc.pidNS}
			}
			if err := os.Mkdir(bundle, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := runtime.WriteSpec(bundle, spec); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: "c1", Bundle: bundle, LogPath: filepath.Join(dir, "c1.log")}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Start(ctx, "c1"); err != nil {
				t.Fatal(err)
			}
			if err := fake.Orphan("c1"); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			fake.Exit("c1", 0)
			st, err := c.Wait(ctx, "c1")
			if err != nil || st.Exit == nil || st.Exit.ExitCode != 0 {
				t.Fatalf("Wait = %+v, %v; want the init's exit code 0", st, err)
			}
			if took := time.Since(start); took >= ioDrainTimeout/2 {
				t.Errorf("the exit was recorded after %v: it waited for the orphan's stdout", took)
			}
			if n := fake.Container("c1").Orphans; n != 0 {
				t.Errorf("%d orphans run on after the init's exit", n)
			}
			if got := slices.Contains(fake.Calls(), "KillAll c1"); got != tc.killsAll {
				t.Errorf("killed every process of the container: %v, want %v (calls %q)", got, tc.killsAll, fake.Calls())
			}
		})
	}
}
