package container_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox/container"
)

func TestExecSync(t *testing.T) {
	cases := []struct {
		desc     string
		cmd      []string
		result   container.ExecResult
		notStart bool
		want     error
	}{
		{desc: "output and exit code", cmd: []string{"echo", "hi"}, result: container.ExecResult{ExitCode: 2, Stdout: []byte("hi\n")}},
		{desc: "timeout", cmd: []string{"sleep", "9"}, result: container.ExecResult{TimedOut: true, ExitCode: 137}, want: context.DeadlineExceeded},
		{desc: "empty command", cmd: nil, want: errdefs.ErrInvalidArgument},
		{desc: "not running", cmd: []string{"true"}, notStart: true, want: errdefs.ErrFailedPrecondition},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			c := e.create(t, "app", "busybox")
			if !tc.notStart {
				if err := e.svc.Start(context.Background(), c.ID); err != nil {
					t.Fatal(err)
				}
			}
			e.shims.ExecResult = tc.result
			res, err := e.svc.ExecSync(context.Background(), c.ID, tc.cmd, time.Second)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				return
			}
			if res.ExitCode != tc.result.ExitCode || string(res.Stdout) != string(tc.result.Stdout) {
				t.Errorf("result = %+v", res)
			}
			req := e.shims.LastExec
			if !slices.Equal(req.Process.Args, tc.cmd) || !slices.Equal(req.Process.Env, []string{"PATH=/bin"}) || req.MaxOutput != container.MaxExecOutput || req.Timeout != time.Second {
				t.Errorf("exec request = %+v process %+v", req, req.Process)
			}
			if !slices.Equal(c.Process.Args, []string{"sh"}) {
				t.Errorf("exec changed the container's process: %v", c.Process.Args)
			}
		})
	}
}

func TestExecSyncMissingContainer(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.ExecSync(context.Background(), "nope", []string{"true"}, 0); !errdefs.IsNotFound(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestReopenLog(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, "app", "busybox")
	if err := e.svc.ReopenLog(context.Background(), c.ID); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("created: %v", err)
	}
	if err := e.svc.Start(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ReopenLog(context.Background(), c.ID); err != nil {
		t.Errorf("running: %v", err)
	}
	if err := e.svc.ReopenLog(context.Background(), "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("missing: %v", err)
	}
}
