package streaming

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
)

func newTestRuntime(t Target) (*Runtime, *fakeShim) {
	sh := &fakeShim{output: "hello"}
	t.Shim = sh
	l := fakeLookup{targets: map[string]Target{"c1": t}}
	return NewRuntime(l, l), sh
}

func TestExec(t *testing.T) {
	base := &specs.Process{Args: []string{"sleep"}, Env: []string{"PATH=/bin", "A=b"}, User: specs.User{UID: 7}, Cwd: "/w"}
	cases := []struct {
		desc      string
		id        string
		cmd       []string
		tty       bool
		code      int
		shimErr   error
		checkErr  error
		wantCode  int // exit code of a utilexec.ExitError, 0 for none
		wantClass error
		wantCalls int
	}{
		{desc: "success", id: "c1", cmd: []string{"ls", "-l"}, wantCalls: 1},
		{desc: "exit code is an ExitError", id: "c1", cmd: []string{"false"}, code: 3, wantCode: 3, wantCalls: 1},
		{desc: "tty", id: "c1", cmd: []string{"sh"}, tty: true, wantCalls: 1},
		{desc: "missing container", id: "nope", cmd: []string{"ls"}, wantClass: errdefs.ErrNotFound},
		{desc: "empty command", id: "c1", wantClass: errdefs.ErrInvalidArgument},
		{desc: "missing binary fails before the shim", id: "c1", cmd: []string{"nope"},
			checkErr: errdefs.ErrInvalidArgument, wantClass: errdefs.ErrInvalidArgument},
		{desc: "shim error", id: "c1", cmd: []string{"ls"}, shimErr: errdefs.ErrUnavailable, wantClass: errdefs.ErrUnavailable, wantCalls: 1},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			target := Target{ID: "c1", Process: base}
			if tc.checkErr != nil {
				target.CheckCommand = func(string) error { return tc.checkErr }
			}
			rt, sh := newTestRuntime(target)
			sh.code, sh.err = tc.code, tc.shimErr
			var out, errOut bytes.Buffer
			resize := make(chan remotecommand.TerminalSize, 1)
			resize <- remotecommand.TerminalSize{Width: 80, Height: 24}
			close(resize)
			err := rt.Exec(context.Background(), tc.id, tc.cmd, strings.NewReader("in"), nopWriteCloser{&out}, nopWriteCloser{&errOut}, tc.tty, resize)
			var exitErr utilexec.ExitError
			switch {
			case tc.wantClass != nil:
				if !errors.Is(err, tc.wantClass) {
					t.Fatalf("err = %v, want %v", err, tc.wantClass)
				}
			case tc.wantCode != 0:
				if !errors.As(err, &exitErr) || !exitErr.Exited() || exitErr.ExitStatus() != tc.wantCode {
					t.Fatalf("err = %#v, want exit code %d", err, tc.wantCode)
				}
			case err != nil:
				t.Fatal(err)
			}
			if len(sh.execs) != tc.wantCalls {
				t.Fatalf("%d shim execs, want %d", len(sh.execs), tc.wantCalls)
			}
			if tc.wantCalls == 0 {
				return
			}
			req := sh.execs[0]
			p := req.Process
			if !slices.Equal(p.Args, tc.cmd) || p.Terminal != tc.tty || p.User.UID != 7 || p.Cwd != "/w" || !slices.Equal(p.Env, base.Env) {
				t.Errorf("process = %+v", p)
			}
			if !slices.Equal(base.Args, []string{"sleep"}) {
				t.Errorf("the container's process was changed: %v", base.Args)
			}
			if (req.Stderr == nil) != tc.tty {
				t.Errorf("stderr passed %v with tty %v", req.Stderr != nil, tc.tty)
			}
			if tc.shimErr == nil && out.String() != "hello" {
				t.Errorf("stdout = %q", out.String())
			}
			if tc.shimErr == nil && !slices.Equal(sh.sizes, []shimapi.Winsize{{Width: 80, Height: 24}}) {
				t.Errorf("sizes = %v", sh.sizes)
			}
		})
	}
}

func TestAttach(t *testing.T) {
	cases := []struct {
		desc                      string
		target                    Target
		wantStdin, wantStderr     bool
		wantCloseStdin            bool
		wantClass                 error
		id                        string
		stdin, stdout, stderrSent bool
	}{
		{desc: "all streams", id: "c1", target: Target{ID: "c1", Stdin: true}, wantStdin: true, wantStderr: true},
		{desc: "stdin once", id: "c1", target: Target{ID: "c1", Stdin: true, StdinOnce: true}, wantStdin: true, wantStderr: true, wantCloseStdin: true},
		{desc: "container without stdin", id: "c1", target: Target{ID: "c1"}, wantStderr: true},
		{desc: "tty has no stderr", id: "c1", target: Target{ID: "c1", Stdin: true, TTY: true}, wantStdin: true},
		{desc: "missing container", id: "nope", target: Target{ID: "c1"}, wantClass: errdefs.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			rt, sh := newTestRuntime(tc.target)
			var out, errOut bytes.Buffer
			err := rt.Attach(context.Background(), tc.id, strings.NewReader("in"), nopWriteCloser{&out}, nopWriteCloser{&errOut}, tc.target.TTY, nil)
			if tc.wantClass != nil {
				if !errors.Is(err, tc.wantClass) {
					t.Fatalf("err = %v, want %v", err, tc.wantClass)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			req := sh.attaches[0]
			if (req.Stdin != nil) != tc.wantStdin || (req.Stderr != nil) != tc.wantStderr || req.CloseStdin != tc.wantCloseStdin || req.ID != "c1" {
				t.Errorf("request = %+v", req)
			}
			if out.String() != "hello" {
				t.Errorf("stdout = %q", out.String())
			}
		})
	}
}

func TestWinsizesEndsWithContext(t *testing.T) {
	in := make(chan remotecommand.TerminalSize)
	ctx, cancel := context.WithCancel(context.Background())
	out := winsizes(ctx, in)
	in <- remotecommand.TerminalSize{Width: 1, Height: 2}
	cancel()
	for range out {
	}
	if winsizes(ctx, nil) != nil {
		t.Error("a nil resize channel became a channel")
	}
}
