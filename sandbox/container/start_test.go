package container_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox/container"
)

func TestStartAndExit(t *testing.T) {
	cases := []struct {
		desc       string
		code       int32
		oom        bool
		wantReason string
	}{
		{desc: "completed", code: 0, wantReason: container.ReasonCompleted},
		{desc: "error", code: 3, wantReason: container.ReasonError},
		{desc: "oom killed", code: 137, oom: true, wantReason: container.ReasonOOMKilled},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			c := e.started(t, "app", "busybox")
			st := c.Status()
			if st.State != container.StateRunning || st.Pid == 0 || st.StartedAt.IsZero() {
				t.Fatalf("status after start = %+v", st)
			}
			p := e.shims.Proc(c.ID)
			if p.Create.LogPath != c.LogPath || p.Create.Bundle != c.Bundle {
				t.Errorf("shim create = %+v", p.Create)
			}
			if _, err := os.Stat(filepath.Dir(c.LogPath)); err != nil {
				t.Errorf("log dir not created: %v", err)
			}
			e.shims.Exit(c.ID, tc.code, tc.oom)
			st = waitExited(t, c)
			if st.State != container.StateExited || st.ExitCode != tc.code || st.Reason != tc.wantReason || st.FinishedAt.IsZero() {
				t.Errorf("status after exit = %+v", st)
			}
		})
	}
}

func TestStartFailures(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		desc      string
		id        func(c *container.Container) string
		fail      string
		want      error
		wantState container.State
		deleted   bool
	}{
		{desc: "missing", id: func(*container.Container) string { return "nope" }, want: errdefs.ErrNotFound, wantState: container.StateCreated},
		{desc: "shim create fails", fail: "Create", want: boom, wantState: container.StateExited},
		{desc: "shim start fails, process deleted", fail: "Start", want: boom, wantState: container.StateExited, deleted: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			c := e.create(t, "app", "busybox")
			if tc.fail != "" {
				e.shims.Fail(tc.fail, boom)
			}
			id := c.ID
			if tc.id != nil {
				id = tc.id(c)
			}
			if err := e.svc.Start(context.Background(), id); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			st := c.Status()
			if st.State != tc.wantState {
				t.Fatalf("state = %s, want %s", st.State, tc.wantState)
			}
			if st.State == container.StateExited && (st.Reason != container.ReasonStartError || st.Message == "" || st.ExitCode == 0) {
				t.Errorf("status = %+v", st)
			}
			if tc.deleted && e.shims.Proc(c.ID) != nil {
				t.Error("process left in the shim")
			}
		})
	}
}

// TestStartShimLostReapsProcess: a shim that dies during StartContainer
// cannot delete the process it created (its init waits to be started);
// the rollback kills it through the container's cgroup instead (test/fault
// found "cricket-shim init" running in a container reported exited until
// its pod was removed).
func TestStartShimLostReapsProcess(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, "app", "busybox")
	lost := fmt.Errorf("connection closed: %w", errdefs.ErrUnavailable)
	e.shims.Fail("Start", lost)
	e.shims.Fail("Delete", lost)
	if err := e.svc.Start(context.Background(), c.ID); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if r := e.orph.Reaped(); !slices.Equal(r, []string{c.Bundle}) {
		t.Errorf("reaped %v, want %s", r, c.Bundle)
	}
}

// TestStartShimGoneReapsProcess: a Start that finds its pod's shim
// already gone reports a start error, and kills through the container's
// cgroup what a previous attempt had that shim make of it (test/fault: a
// daemon killed during StartContainer, then the pod's shim; the retry
// found no shim and marked the container exited while its init, or the
// child its program had started, ran on).
func TestStartShimGoneReapsProcess(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, "app", "busybox")
	e.shims.SetGone(podID, true)
	if err := e.svc.Start(context.Background(), c.ID); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if st := c.Status(); st.State != container.StateExited {
		t.Errorf("state = %s, want exited", st.State)
	}
	if r := e.orph.Reaped(); !slices.Equal(r, []string{c.Bundle}) {
		t.Errorf("reaped %v, want %s", r, c.Bundle)
	}
}

func TestStartTwiceIsFailedPrecondition(t *testing.T) {
	e := newEnv(t)
	c := e.started(t, "app", "busybox")
	if err := e.svc.Start(context.Background(), c.ID); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("err = %v", err)
	}
}
