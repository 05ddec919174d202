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

// TestStopTearsDownOnce: repeated stops and the remove after them release
// the pod's resources once (each teardown was a CNI DEL: about 60 ms of
// every RemovePodSandbox in make bench-compare), also across a restart.
func TestStopTearsDownOnce(t *testing.T) {
	e := newEnv(t)
	sb := e.run(t, "web")
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := e.svc.Stop(ctx, sb.ID); err != nil {
			t.Fatalf("stop %d: %v", i, err)
		}
	}
	svc := e.service(t)
	svc.Load(ctx)
	if err := svc.Stop(ctx, sb.ID); err != nil {
		t.Fatalf("stop after a restart: %v", err)
	}
	if err := svc.Remove(ctx, sb.ID); err != nil {
		t.Fatalf("remove: %v", err)
	}
	for _, call := range []string{sandboxtest.CallTeardown, sandboxtest.CallRemoveCgroup} {
		if n := count(e.rec.Calls(), call); n != 1 {
			t.Errorf("%s called %d times, want 1", call, n)
		}
	}
}

// TestRemoveTearsDownPodWhoseShimDied: a pod marked NotReady because its
// shim died still holds its network, files and cgroup; Remove releases them.
func TestRemoveTearsDownPodWhoseShimDied(t *testing.T) {
	e := newEnv(t)
	sb := e.run(t, "web")
	e.rec.SetHeld("shim:"+sb.ID, false)
	e.svc.CheckShims(context.Background())
	if st := sb.Status(); st.State != sandbox.StateNotReady || st.TornDown {
		t.Fatalf("status = %+v, want not ready and not torn down", st)
	}
	if err := e.svc.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
	if n := count(e.rec.Calls(), sandboxtest.CallTeardown); n != 1 {
		t.Errorf("network teardowns = %d, want 1", n)
	}
	if held := e.rec.Held(); len(held) != 0 {
		t.Errorf("remove leaked %q", held)
	}
}

func count(calls []string, name string) int {
	n := 0
	for _, c := range calls {
		if c == name {
			n++
		}
	}
	return n
}
