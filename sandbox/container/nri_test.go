package container_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/sandbox/container"
	"github.com/cricket-cri/cricket/sandbox/container/containertest"
	"github.com/cricket-cri/cricket/sandbox/nri/nritest"
)

// withNRI rebuilds e's service with hooks as its NRI.
func (e *env) withNRI(t *testing.T, hooks *containertest.NRI) {
	t.Helper()
	svc, err := container.New(container.Options{
		StateDir: filepath.Join(e.dir, "containers"), Store: e.st, Pods: e.pods, Images: images,
		Rootfs: e.rootfs, Spec: specBuilder{e.spec}, Shims: e.shims, NRI: hooks,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
}

func TestNRIContainerLifecycle(t *testing.T) {
	hooks := &containertest.NRI{Adjust: func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "FROM_NRI=1") }}
	e := newEnv(t)
	e.withNRI(t, hooks)
	ctx := context.Background()
	c := e.started(t, "app", "busybox")
	if !slices.Contains(c.Process.Env, "FROM_NRI=1") {
		t.Errorf("adjustment not applied: env %q", c.Process.Env)
	}
	if err := e.svc.Stop(ctx, c.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CreateContainer:app", "PostCreateContainer:app", "StartContainer:app", "PostStartContainer:app",
		"StopContainer:app", "RemoveContainer:app",
	}
	if got := hooks.Events(); !slices.Equal(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
	if n := hooks.Blocked(); n != 0 {
		t.Errorf("%d plugin sync blocks left", n)
	}
}

func TestNRIStopOnOwnExit(t *testing.T) {
	hooks := &containertest.NRI{}
	e := newEnv(t)
	e.withNRI(t, hooks)
	c := e.started(t, "job", "busybox")
	e.shims.Exit(c.ID, 1, false)
	waitExited(t, c)
	if got := hooks.Events(); !slices.Contains(got, "StopContainer:job") {
		t.Errorf("events = %q, want a StopContainer without a Stop request", got)
	}
}

func TestNRICreateContainerFails(t *testing.T) {
	hooks := &containertest.NRI{Recorder: nritest.Recorder{Fail: map[string]error{"CreateContainer": errors.New("boom")}}}
	e := newEnv(t)
	e.withNRI(t, hooks)
	_, err := e.svc.Create(context.Background(), container.CreateRequest{PodID: podID, Config: ctrConfig("app", "busybox")})
	if err == nil {
		t.Fatal("Create succeeded although the NRI hook failed")
	}
	if n := len(e.svc.List(container.Filter{})); n != 0 {
		t.Errorf("%d containers listed", n)
	}
	if m := e.rootfs.Mounted(); len(m) != 0 {
		t.Errorf("rootfs left mounted: %q", m)
	}
	if got := hooks.Events(); !slices.Equal(got, []string{"CreateContainer:app"}) {
		t.Errorf("events = %q", got)
	}
	hooks.Fail = nil
	e.create(t, "app", "busybox") // the name is free again
}

// TestNRICreateHoldsSyncUntilListed (issue 20): a plugin that connects
// while a container is being created synchronizes only once the creation
// released its hold, and by then the container is listed, so the plugin
// finds it in its snapshot; one created after the sync started waits for
// the plugin's registration and reaches it as an event. No container is
// lost in between.
func TestNRICreateHoldsSyncUntilListed(t *testing.T) {
	hooks := &containertest.NRI{}
	e := newEnv(t)
	e.withNRI(t, hooks)
	var listed []string
	hooks.OnUnblock = func() {
		for _, c := range e.svc.List(container.Filter{}) {
			listed = append(listed, c.Name)
		}
	}
	c := e.create(t, "app", "busybox")
	if !slices.Contains(listed, c.Name) {
		t.Errorf("the sync hold was released while %s was not listed yet (listed: %q)", c.Name, listed)
	}
	if n := hooks.Blocked(); n != 0 {
		t.Errorf("%d plugin sync blocks left", n)
	}
}
