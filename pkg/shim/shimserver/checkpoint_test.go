package shimserver

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
)

// A checkpoint goes to the container's executor with its options; pause
// and resume too; a restored container runs from Create and Start execs
// nothing, and its exit is reported as any other's.
func TestShimCheckpointRestore(t *testing.T) {
	c, fake, dir := fakeShim(t)
	ctx := context.Background()
	createRunning(t, c, dir, "c1")
	if err := c.Pause(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	images := filepath.Join(dir, "ckpt", "checkpoint")
	opts := runtime.CheckpointOptions{ImagePath: images, WorkPath: filepath.Join(dir, "ckpt"), LeaveRunning: true}
	if err := c.Checkpoint(ctx, shimapi.CheckpointRequest{ID: "c1", Options: opts}); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if len(fake.Checkpoints) != 1 || fake.Checkpoints[0] != opts {
		t.Fatalf("executor checkpoints = %+v", fake.Checkpoints)
	}
	if err := c.Checkpoint(ctx, shimapi.CheckpointRequest{ID: "nope", Options: opts}); !errdefs.IsNotFound(err) {
		t.Fatalf("checkpoint of an unknown container = %v, want NotFound", err)
	}

	ropts := &runtime.RestoreOptions{ImagePath: images, WorkPath: filepath.Join(dir, "ckpt")}
	st, err := c.CreateContainer(ctx, shimapi.CreateRequest{ID: "c2", Bundle: "/b/c2", LogPath: filepath.Join(dir, "c2.log"), Restore: ropts})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != shimapi.StatusCreated || st.Pid == 0 {
		t.Fatalf("restored container state %+v", st)
	}
	if st, err = c.Start(ctx, "c2"); err != nil || st.Status != shimapi.StatusRunning {
		t.Fatalf("Start of the restored container = %+v, %v", st, err)
	}
	calls := fake.Calls()
	if slices.Contains(calls, "Start c2") || !slices.Contains(calls, "Restore c2") {
		t.Fatalf("executor calls %v: the restored container must not be started again", calls)
	}
	if len(fake.Restores) != 1 || fake.Restores[0] != *ropts {
		t.Fatalf("executor restores = %+v", fake.Restores)
	}
}
