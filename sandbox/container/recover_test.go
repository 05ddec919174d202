package container_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox/container"
)

func TestLoadReconciles(t *testing.T) {
	e := newEnv(t)
	e.pods.Add(container.Pod{ID: "dead", Ready: true, Config: &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "dead"}}})
	running := e.started(t, "running", "busybox")
	exitedMeanwhile := e.started(t, "exited", "busybox")
	created := e.create(t, "created", "busybox")
	onDeadShim, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: "dead", Config: ctrConfig("x", "busybox")})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Start(context.Background(), onDeadShim.ID); err != nil {
		t.Fatal(err)
	}
	// The daemon dies: its watchers see nothing more. Simulate with a new
	// service over the same store while the processes change.
	restarted := e.service(t)
	e.shims.SetGone("dead", true)
	e.shims.Exit(onDeadShim.ID, 7, false) // recorded on disk by the dead shim
	e.shims.Exit(exitedMeanwhile.ID, 0, false)
	if err := os.WriteFile(filepath.Join(e.dir, "meta", "containers", "broken.json"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	restarted.Load(context.Background())

	get := func(id string) *container.Container {
		c, err := restarted.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if st := get(created.ID).Status(); st.State != container.StateCreated {
		t.Errorf("created = %+v", st)
	}
	if st := get(exitedMeanwhile.ID).Status(); st.State != container.StateExited || st.Reason != container.ReasonCompleted {
		t.Errorf("exited meanwhile = %+v", st)
	}
	if st := get(onDeadShim.ID).Status(); st.State != container.StateExited || st.ExitCode != 7 {
		t.Errorf("on dead shim = %+v", st)
	}
	r := get(running.ID)
	if st := r.Status(); st.State != container.StateRunning {
		t.Fatalf("running = %+v", st)
	}
	if err := restarted.Stop(context.Background(), r.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); st.State != container.StateExited || st.ExitCode != 143 {
		t.Errorf("stopped after restart = %+v", st)
	}
	if _, err := restarted.Create(context.Background(), container.CreateRequest{PodID: podID, Config: ctrConfig("running", "busybox")}); !errdefs.IsAlreadyExists(err) {
		t.Errorf("name not re-reserved: %v", err)
	}
}

func TestLoadFinishesInterruptedOperations(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// A Start cut short: the shim runs the process, the record says Created.
	started := e.create(t, "started", "busybox")
	pod, _ := e.pods.Pod(podID)
	sh, err := e.shims.Shim(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Create(ctx, container.ShimCreate{ID: started.ID, Bundle: started.Bundle}); err != nil {
		t.Fatal(err)
	}
	if _, err := sh.Start(ctx, started.ID); err != nil {
		t.Fatal(err)
	}
	// A Create cut short: a record in state creating and a mounted rootfs.
	id := strings.Repeat("cd", 32)
	bundle := filepath.Join(e.dir, "containers", id)
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := e.rootfs.Mount(ctx, id, container.Image{}, filepath.Join(bundle, "rootfs"), ""); err != nil {
		t.Fatal(err)
	}
	cfg, _ := proto.Marshal(ctrConfig("half", "busybox"))
	rec := map[string]any{"id": id, "name": "half_web_default_u1_0", "podID": podID, "config": cfg,
		"bundle": bundle, "rootfs": filepath.Join(bundle, "rootfs"), "status": map[string]string{"state": "creating"}}
	if err := e.st.Put("containers", id, 1, rec); err != nil {
		t.Fatal(err)
	}

	restarted := e.service(t)
	restarted.Load(ctx)
	if _, err := restarted.Get(id); !errdefs.IsNotFound(err) {
		t.Errorf("half-created container is visible: %v", err)
	}
	if m := e.rootfs.Mounted(); !slices.Equal(m, []string{started.ID}) {
		t.Errorf("mounted = %q", m)
	}
	if _, err := os.Stat(bundle); !os.IsNotExist(err) {
		t.Errorf("bundle left: %v", err)
	}
	c, err := restarted.Get(started.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.State != container.StateRunning || st.Pid == 0 {
		t.Fatalf("interrupted start = %+v", st)
	}
	e.shims.Exit(started.ID, 0, false)
	if st := waitExited(t, c); st.Reason != container.ReasonCompleted {
		t.Errorf("exit not watched: %+v", st)
	}
}

// TestShimGoneReapsOrphan: a container whose shim was killed may still
// run; before it is reported exited its processes are killed and its
// cgroup removed (found by the fault test: such containers ran on,
// reported exited, and kept their pod's cgroup busy forever). Removing it
// reaps again, since no shim deletes its cgroup.
func TestShimGoneReapsOrphan(t *testing.T) {
	e := newEnv(t)
	e.pods.Add(container.Pod{ID: "dead", Ready: true, Config: &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "dead"}}})
	ctx := context.Background()
	c, err := e.svc.Create(ctx, container.CreateRequest{PodID: "dead", Config: ctrConfig("x", "busybox")})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Start(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	alive := e.started(t, "alive", "busybox")
	restarted := e.service(t)
	e.shims.SetGone("dead", true)
	restarted.Load(ctx)
	got, err := restarted.Get(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st := got.Status(); st.State != container.StateExited || st.Reason != container.ReasonUnknown {
		t.Errorf("container of a killed shim = %+v, want exited, reason %s", st, container.ReasonUnknown)
	}
	if r := e.orph.Reaped(); !slices.Equal(r, []string{c.Bundle}) {
		t.Errorf("reaped %v, want only %s (not %s, whose shim lives)", r, c.Bundle, alive.Bundle)
	}
	if err := restarted.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if r := e.orph.Reaped(); len(r) != 2 || r[1] != c.Bundle {
		t.Errorf("reaped %v, want %s again on Remove", r, c.Bundle)
	}
}

// TestShimGoneReapsCreated: a created container whose pod's shim is gone
// at restart may have a process the shim made (its init, waiting to be
// started); it is reaped through the cgroup (test/fault found
// "cricket-shim init" running on after a kill during StartContainer).
func TestShimGoneReapsCreated(t *testing.T) {
	e := newEnv(t)
	e.pods.Add(container.Pod{ID: "dead", Ready: true, Config: &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "dead"}}})
	ctx := context.Background()
	c, err := e.svc.Create(ctx, container.CreateRequest{PodID: "dead", Config: ctrConfig("x", "busybox")})
	if err != nil {
		t.Fatal(err)
	}
	restarted := e.service(t)
	e.shims.SetGone("dead", true)
	restarted.Load(ctx)
	if r := e.orph.Reaped(); !slices.Equal(r, []string{c.Bundle}) {
		t.Errorf("reaped %v, want %s", r, c.Bundle)
	}
}

// TestLoadRemovesContainerCrashedInCreate kills Create (a panic: no
// rollback runs) while it mounts the rootfs: the next start must find a
// record naming the bundle dir and remove both. (test/fault found a dir
// made before the first record leaked when the crash came in between.)
func TestLoadRemovesContainerCrashedInCreate(t *testing.T) {
	e := newEnv(t)
	e.rootfs.OnMount = func(string) { panic("crash") }
	func() {
		defer func() { _ = recover() }()
		_, _ = e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: ctrConfig("app", "busybox")})
	}()
	e.rootfs.OnMount = nil
	if entries, _ := os.ReadDir(filepath.Join(e.dir, "containers")); len(entries) != 1 {
		t.Fatalf("bundle dirs after the crash: %v, want one", entries)
	}
	e.service(t).Load(context.Background())
	if entries, _ := os.ReadDir(filepath.Join(e.dir, "containers")); len(entries) != 0 {
		t.Errorf("bundle dirs left: %v", entries)
	}
	if ids, _ := e.st.IDs("containers"); len(ids) != 0 {
		t.Errorf("records left: %q", ids)
	}
}

// TestLoadSweepsDirsNoRecordNames: at start-up a bundle or idmapped
// mounts dir that no record names is removed, its rootfs and image
// volumes unmounted first; the dirs of a live container and of a record
// that cannot be loaded stay.
func TestLoadSweepsDirsNoRecordNames(t *testing.T) {
	e := newEnv(t)
	live := e.create(t, "live", "busybox")
	stray, unreadable := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	strayBundle := filepath.Join(e.dir, "containers", stray)
	strayIDMap := filepath.Join(e.dir, "idmap", strings.Repeat("ef", 32))
	unreadableBundle := filepath.Join(e.dir, "containers", unreadable)
	for _, d := range []string{filepath.Join(strayBundle, "rootfs"), filepath.Join(strayBundle, "imagevols", "0"), filepath.Join(strayIDMap, "0"), unreadableBundle} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(strayBundle, "config.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for key, target := range map[string]string{stray: filepath.Join(strayBundle, "rootfs"), stray + "-iv0": filepath.Join(strayBundle, "imagevols", "0")} {
		if err := e.rootfs.Mount(context.Background(), key, container.Image{}, target, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.Put("containers", unreadable, 99, map[string]string{"id": unreadable}); err != nil {
		t.Fatal(err)
	}

	e.service(t).Load(context.Background())
	for _, d := range []string{strayBundle, strayIDMap} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s, which no record names, is still there: %v", d, err)
		}
	}
	for _, d := range []string{live.Bundle, unreadableBundle} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was swept: %v", d, err)
		}
	}
	if got := e.rootfs.Mounted(); !slices.Equal(got, []string{live.ID}) {
		t.Errorf("mounted after the sweep: %q, want only the live container's rootfs", got)
	}
}
