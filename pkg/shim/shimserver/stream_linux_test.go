package shimserver

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/runtime/runtimetest"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
	"github.com/cricket-cri/cricket/pkg/shim/shimclient"
	"github.com/cricket-cri/cricket/test/testutil"
)

// TestShimStreams runs streaming exec and attach against real containers
// for every handler.
func TestShimStreams(t *testing.T) {
	testutil.RequireRoot(t)
	t.Cleanup(func() { runtimetest.RemoveTestCgroups(t) })
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	runtimetest.BusyboxRootfs(t, rootfs)
	for _, h := range runtimetest.Handlers(t) {
		t.Run(h.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			c, err := shimclient.Start(ctx, shimclient.Options{PodID: "stream-" + h.Name, StateDir: filepath.Join(t.TempDir(), "pod"), Binary: shimBinary()})
			if err != nil {
				t.Fatal(err)
			}
			info, _ := c.Info(ctx)
			t.Cleanup(func() { stopShim(t, c, info.Pid); c.Close() })
			t.Run("exec", func(t *testing.T) { checkStreamExec(ctx, t, c, h, dir, rootfs) })
			t.Run("attach", func(t *testing.T) { checkStreamAttach(ctx, t, c, h, dir, rootfs) })
			t.Run("attach tty", func(t *testing.T) { checkStreamAttachTTY(ctx, t, c, h, dir, rootfs) })
			checkNoZombies(t, info.Pid)
		})
	}
}

// startStreamContainer creates and starts a container running args.
func startStreamContainer(ctx context.Context, t *testing.T, c *shimclient.Client, h runtime.Handler, dir, rootfs, id string, tty bool, args ...string) string {
	t.Helper()
	spec := runtimetest.Spec(id, rootfs, args...)
	spec.Process.Terminal = tty
	bundle := filepath.Join(dir, "bundles", id)
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := runtime.WriteSpec(bundle, spec); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, id+".log")
	if _, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: id, Bundle: bundle, Handler: h, LogPath: logPath, Stdin: true, Terminal: tty}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Delete(context.Background(), id, true) })
	return logPath
}

func checkStreamExec(ctx context.Context, t *testing.T, c *shimclient.Client, h runtime.Handler, dir, rootfs string) {
	id := "sx-" + h.Name
	startStreamContainer(ctx, t, c, h, dir, rootfs, id, false, "sleep", "1000")
	proc := func(tty bool, args ...string) shimclient.StreamExecRequest {
		p := runtimetest.Spec(id, "/").Process
		p.Args, p.Terminal = args, tty
		return shimclient.StreamExecRequest{ID: id, Process: p}
	}

	// stdin to the process, closed at its end; outputs and exit code back.
	var out, errOut syncBuffer
	req := proc(false, "sh", "-c", "cat; echo err >&2; exit 4")
	req.Stdin, req.Stdout, req.Stderr = strings.NewReader("from stdin\n"), &out, &errOut
	code, err := c.Streams().Exec(ctx, req)
	if err != nil || code != 4 || out.String() != "from stdin\n" || errOut.String() != "err\n" {
		t.Fatalf("exec = %d, %v; out %q err %q", code, err, out.String(), errOut.String())
	}

	// A terminal: the process sees a tty of the size asked for, its
	// output comes back with terminal line ends, input is echoed.
	resize := make(chan shimapi.Winsize, 1)
	resize <- shimapi.Winsize{Width: 123, Height: 45}
	inR, inW := io.Pipe()
	var ttyOut syncBuffer
	req = proc(true, "sh", "-c", "read line; echo got:$line; busybox stty size; tty")
	req.Stdin, req.Stdout, req.Resize = inR, &ttyOut, resize
	done := make(chan error, 1)
	go func() {
		code, err := c.Streams().Exec(ctx, req)
		if err == nil && code != 0 {
			err = &exitErr{code}
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the resize land before stty runs
	_, _ = io.WriteString(inW, "hello\r")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tty exec: %v (output %q)", err, ttyOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("tty exec did not end; output %q", ttyOut.String())
	}
	_ = inW.Close()
	got := ttyOut.String()
	for _, want := range []string{"got:hello\r\n", "45 123\r\n", "/dev/pts/"} {
		if !strings.Contains(got, want) {
			t.Errorf("tty output %q lacks %q", got, want)
		}
	}

	// A missing binary fails at once, with the reason.
	begin := time.Now()
	_, err = c.Streams().Exec(ctx, proc(false, "no-such-binary"))
	if err == nil || !strings.Contains(err.Error(), "no-such-binary") {
		t.Fatalf("exec of a missing binary = %v", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("exec of a missing binary took %v", d)
	}
}

type exitErr struct{ code int }

func (e *exitErr) Error() string { return fmt.Sprintf("exit code %d", e.code) }

func checkStreamAttach(ctx context.Context, t *testing.T, c *shimclient.Client, h runtime.Handler, dir, rootfs string) {
	id := "sa-" + h.Name
	// Echoes its stdin to stdout and stderr; exits 3 at EOF.
	logPath := startStreamContainer(ctx, t, c, h, dir, rootfs, id, false,
		"sh", "-c", "while read line; do echo out:$line; echo err:$line >&2; done; exit 3")
	inR, inW := io.Pipe()
	var s1, s2 attachSession
	attach(t, c, shimclient.StreamAttachRequest{ID: id, Stdin: inR, CloseStdin: true}, &s1)
	attach(t, c, shimclient.StreamAttachRequest{ID: id}, &s2)
	time.Sleep(200 * time.Millisecond)
	_, _ = io.WriteString(inW, "one\n")
	for _, s := range []*attachSession{&s1, &s2} {
		waitFor(t, "attached output", func() bool {
			return s.out.String() == "out:one\n" && s.errOut.String() == "err:one\n"
		})
	}
	// stdin_once: the end of the session's stdin closes the container's.
	_ = inW.Close()
	for _, s := range []*attachSession{&s1, &s2} {
		select {
		case err := <-s.done:
			if err != nil {
				t.Fatalf("Attach = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Attach did not end at the container's exit")
		}
	}
	st, err := c.Wait(ctx, id)
	if err != nil || st.Exit.ExitCode != 3 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	waitLog(t, logPath, " stdout F out:one\n", " stderr F err:one\n")
}

func checkStreamAttachTTY(ctx context.Context, t *testing.T, c *shimclient.Client, h runtime.Handler, dir, rootfs string) {
	id := "st-" + h.Name
	startStreamContainer(ctx, t, c, h, dir, rootfs, id, true,
		"sh", "-c", "while read line; do busybox stty size; echo said:$line; done")
	inR, inW := io.Pipe()
	defer inW.Close()
	resize := make(chan shimapi.Winsize, 1)
	var s attachSession
	attach(t, c, shimclient.StreamAttachRequest{ID: id, Stdin: inR, Resize: resize}, &s)
	time.Sleep(200 * time.Millisecond)
	resize <- shimapi.Winsize{Width: 77, Height: 22}
	time.Sleep(100 * time.Millisecond)
	_, _ = io.WriteString(inW, "x\n")
	waitFor(t, "tty attach output", func() bool {
		o := s.out.String()
		return strings.Contains(o, "22 77") && strings.Contains(o, "said:x")
	})
	if s.errOut.String() != "" {
		t.Errorf("stderr of a terminal attach: %q", s.errOut.String())
	}
	if err := c.Kill(ctx, id, 9, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("tty Attach did not end at the container's exit")
	}
}
