package shimserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime/runtimetest"
	"github.com/cricket-cri/cricket/pkg/shim/shimclient"
)

// lastServer is the Server of the latest fakeShim.
var lastServer atomic.Pointer[Server]

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeExec prints its arguments and fails with 7 when told "fail".
func fakeExec(_ context.Context, _ string, p *specs.Process, stdout, stderr *os.File) int {
	if stdout != nil {
		_, _ = io.WriteString(stdout, "out:"+strings.Join(p.Args, " ")+"\n")
	}
	if stderr != nil {
		_, _ = io.WriteString(stderr, "err\n")
	}
	if p.Args[0] == "fail" {
		return 7
	}
	return 0
}

func TestStreamExec(t *testing.T) {
	cases := []struct {
		desc             string
		id               string
		args             []string
		noStdout         bool
		execErr          error
		wantCode         int
		wantOut, wantErr string
		wantClass        error
	}{
		{desc: "output and exit 0", id: "c1", args: []string{"echo", "hi"}, wantOut: "out:echo hi\n", wantErr: "err\n"},
		{desc: "exit code", id: "c1", args: []string{"fail"}, wantCode: 7, wantOut: "out:fail\n", wantErr: "err\n"},
		{desc: "stderr only", id: "c1", args: []string{"x"}, noStdout: true, wantErr: "err\n"},
		{desc: "missing container", id: "nope", args: []string{"x"}, wantClass: errdefs.ErrNotFound},
		{desc: "no command", id: "c1", wantClass: errdefs.ErrInvalidArgument},
		{desc: "start failure is returned at once", id: "c1", args: []string{"missing"},
			execErr: errors.New(`exec: "missing": executable file not found in $PATH`)},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c, _, dir := fakeShimWith(t, func(f *runtimetest.Executor) {
				f.ExecFunc = fakeExec
				if tc.execErr != nil {
					f.Err = map[string]error{"Exec": tc.execErr}
				}
			})
			runningForStreams(t, c, dir, "c1")
			var out, errOut syncBuffer
			req := shimclient.StreamExecRequest{ID: tc.id, Process: &specs.Process{Args: tc.args}, Stderr: &errOut}
			if !tc.noStdout {
				req.Stdout = &out
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code, err := c.Streams().Exec(ctx, req)
			switch {
			case tc.wantClass != nil:
				if !errors.Is(err, tc.wantClass) {
					t.Fatalf("err = %v, want %v", err, tc.wantClass)
				}
				return
			case tc.execErr != nil:
				if err == nil || !strings.Contains(err.Error(), "executable file not found") {
					t.Fatalf("err = %v, want the start failure", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if code != tc.wantCode || out.String() != tc.wantOut || errOut.String() != tc.wantErr {
				t.Errorf("code %d out %q err %q; want %d %q %q", code, out.String(), errOut.String(), tc.wantCode, tc.wantOut, tc.wantErr)
			}
		})
	}
}

func TestStreamExecContextCancel(t *testing.T) {
	c, fake, dir := fakeShimWith(t, func(f *runtimetest.Executor) {
		f.ExecFunc = func(ctx context.Context, _ string, _ *specs.Process, _, _ *os.File) int {
			<-ctx.Done()
			return 137
		}
	})
	runningForStreams(t, c, dir, "c1")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Streams().Exec(ctx, shimclient.StreamExecRequest{ID: "c1", Process: &specs.Process{Args: []string{"hang"}}, Stdout: io.Discard})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	for _, pid := range pidsOf(t, c, "c1")[1:] {
		_ = fake.Signal(pid, 9)
	}
}

// runningForStreams is createRunning plus a forced delete at the end of
// the test, so that no late record write races the temp dir's removal.
func runningForStreams(t *testing.T, c *shimclient.Client, dir, id string) {
	t.Helper()
	createRunning(t, c, dir, id)
	t.Cleanup(func() { _, _ = c.Delete(context.Background(), id, true) })
}

func pidsOf(t *testing.T, c *shimclient.Client, id string) []int {
	t.Helper()
	pids, err := c.Pids(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// attachSession runs an Attach in the background.
type attachSession struct {
	out, errOut syncBuffer
	done        chan error
}

func attach(t *testing.T, c *shimclient.Client, req shimclient.StreamAttachRequest, sess *attachSession) {
	t.Helper()
	sess.done = make(chan error, 1)
	if req.Stdout == nil {
		req.Stdout = &sess.out
	}
	if req.Stderr == nil {
		req.Stderr = &sess.errOut
	}
	go func() { sess.done <- c.Streams().Attach(context.Background(), req) }()
}

func TestStreamAttachFansOutAndEndsAtExit(t *testing.T) {
	c, fake, dir := fakeShim(t)
	runningForStreams(t, c, dir, "c1")
	var a, b attachSession
	attach(t, c, shimclient.StreamAttachRequest{ID: "c1"}, &a)
	attach(t, c, shimclient.StreamAttachRequest{ID: "c1"}, &b)
	waitFor(t, "two sessions", func() bool { return hubSize(t, "c1") == 2 })
	if err := fake.Write("c1", false, "hello\n"); err != nil {
		t.Fatal(err)
	}
	if err := fake.Write("c1", true, "oops\n"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*attachSession{&a, &b} {
		waitFor(t, "output", func() bool { return s.out.String() == "hello\n" && s.errOut.String() == "oops\n" })
	}
	fake.Exit("c1", 0)
	for _, s := range []*attachSession{&a, &b} {
		select {
		case err := <-s.done:
			if err != nil {
				t.Fatalf("Attach = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Attach did not end at the container's exit")
		}
	}
	if _, err := c.Wait(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}
	// The log got everything too.
	waitLog(t, dir+"/c1.log", " stdout F hello\n", " stderr F oops\n")
	if err := c.Streams().Attach(context.Background(), shimclient.StreamAttachRequest{ID: "c1", Stdout: io.Discard}); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("attach to exited container: %v, want FailedPrecondition", err)
	}
}

// hubSize counts a container's attach sessions through the package's own
// server state (the fake shim runs in this process).
func hubSize(t *testing.T, id string) int {
	t.Helper()
	srv := lastServer.Load()
	if srv == nil {
		t.Fatal("no server")
	}
	ct, err := srv.get(id)
	if err != nil {
		return 0
	}
	return int(ct.hub.n.Load())
}

// blockingWriter never returns from Write until released.
type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return 0, io.ErrClosedPipe
}

func TestStreamAttachSlowReaderIsCutOff(t *testing.T) {
	c, fake, dir := fakeShim(t)
	runningForStreams(t, c, dir, "c1")
	stuck := blockingWriter{release: make(chan struct{})}
	defer close(stuck.release)
	var slow, fast attachSession
	attach(t, c, shimclient.StreamAttachRequest{ID: "c1", Stdout: stuck}, &slow)
	attach(t, c, shimclient.StreamAttachRequest{ID: "c1"}, &fast)
	waitFor(t, "two sessions", func() bool { return hubSize(t, "c1") == 2 })
	// Far more than the session's pipe holds, paced so that the fast
	// session keeps up: the log and the fast session must get every byte
	// without ever waiting for the stuck one.
	chunk := strings.Repeat(strings.Repeat("x", 1023)+"\n", 64)
	const chunks = 64 // 4 MiB
	want := 0
	for range chunks {
		begin := time.Now()
		if err := fake.Write("c1", false, chunk); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(begin); d > time.Second {
			t.Fatalf("container output blocked %v by a stuck attach session", d)
		}
		want += len(chunk)
		waitFor(t, "fast session keeps up", func() bool { return len(fast.out.String()) == want })
	}
	if n := hubSize(t, "c1"); n != 1 {
		t.Fatalf("%d sessions attached after the stuck one fell behind, want 1", n)
	}
	// The stuck session learns why it was cut off, before the container
	// exits: its Attach returns once the drain gives up on the stuck writer
	// (ioDrainTimeout after the cut-off, so how soon depends on the load).
	select {
	case err := <-slow.done:
		if !errors.Is(err, errdefs.ErrResourceExhausted) {
			t.Fatalf("stuck Attach = %v, want ResourceExhausted", err)
		}
	case <-time.After(ioDrainTimeout + 5*time.Second):
		t.Fatal("stuck Attach did not end after the session was cut off")
	}
	fake.Exit("c1", 0)
	select {
	case err := <-fast.done:
		if err != nil {
			t.Fatalf("fast Attach = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fast Attach did not end")
	}
	if _, err := c.Wait(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}
}

func TestStreamAttachClientHangUp(t *testing.T) {
	c, fake, dir := fakeShim(t)
	runningForStreams(t, c, dir, "c1")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Streams().Attach(ctx, shimclient.StreamAttachRequest{ID: "c1", Stdout: io.Discard})
	}()
	waitFor(t, "session", func() bool { return hubSize(t, "c1") == 1 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Attach = %v, want Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Attach did not end with its context")
	}
	waitFor(t, "session gone from the hub", func() bool { return hubSize(t, "c1") == 0 })
	if err := fake.Write("c1", false, "after\n"); err != nil {
		t.Fatal(err)
	}
}
