package sandbox_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/sandboxtest"
)

func TestStopAndRemoveAreIdempotent(t *testing.T) {
	e := newEnv(t)
	sb := e.run(t, "web")
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := e.svc.Stop(ctx, sb.ID); err != nil {
			t.Fatalf("stop %d: %v", i, err)
		}
	}
	if st := sb.Status(); st.State != sandbox.StateNotReady || st.StoppedAt.IsZero() {
		t.Errorf("status after stop = %+v", st)
	}
	if held := e.rec.Held(); len(held) != 0 {
		t.Errorf("stop leaked %q", held)
	}
	if !slices.Contains(e.rec.Calls(), sandboxtest.CallStopPod) {
		t.Error("stop did not stop the containers")
	}
	for i := 0; i < 2; i++ {
		if err := e.svc.Remove(ctx, sb.ID); err != nil {
			t.Fatalf("remove %d: %v", i, err)
		}
	}
	if _, err := e.svc.Get(sb.ID); !errdefs.IsNotFound(err) {
		t.Errorf("get after remove: %v", err)
	}
	if ids, _ := e.st.IDs("sandboxes"); len(ids) != 0 {
		t.Errorf("records left: %q", ids)
	}
	if _, err := os.Stat(sb.StateDir); !os.IsNotExist(err) {
		t.Errorf("state dir left: %v", err)
	}
	if !slices.Contains(e.rec.Calls(), sandboxtest.CallRemovePod) {
		t.Error("remove did not remove the containers")
	}
	e.run(t, "web") // name released
	if err := e.svc.Stop(ctx, "missing"); err != nil {
		t.Errorf("stop missing: %v", err)
	}
}

func TestStopFailureIsReported(t *testing.T) {
	e := newEnv(t)
	sb := e.run(t, "web")
	e.rec.Fail(sandboxtest.CallRemoveCgroup, errors.New("busy"))
	if err := e.svc.Stop(context.Background(), sb.ID); err == nil {
		t.Fatal("stop succeeded with a stuck cgroup")
	}
	if sb.Status().State != sandbox.StateReady {
		t.Error("half-stopped pod reported NotReady")
	}
	e.rec.Fail(sandboxtest.CallRemoveCgroup, nil)
	if err := e.svc.Stop(context.Background(), sb.ID); err != nil {
		t.Fatalf("retry: %v", err)
	}
}
