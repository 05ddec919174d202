package sandbox_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/nri/nritest"
	"github.com/cricket-cri/cricket/sandbox/sandboxtest"
)

// withNRI rebuilds e's service with hooks as its NRI.
func (e *env) withNRI(t *testing.T, hooks *sandboxtest.NRI) {
	t.Helper()
	svc, err := sandbox.New(sandbox.Options{
		StateDir:   filepath.Join(e.dir, "pods"),
		Store:      e.st,
		Namespaces: sandboxtest.Namespaces{R: e.rec},
		Files:      sandboxtest.Files{R: e.rec},
		Cgroups:    sandboxtest.Cgroups{R: e.rec},
		Shims:      sandboxtest.Shims{R: e.rec},
		Network:    sandboxtest.Network{R: e.rec},
		NRI:        hooks,
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetContainers(sandboxtest.Containers{R: e.rec})
	e.svc = svc
	hooks.Visible = func(id string) bool { _, err := svc.Get(id); return err == nil }
}

func TestNRIPodLifecycle(t *testing.T) {
	e, hooks := newEnv(t), &sandboxtest.NRI{}
	e.withNRI(t, hooks)
	ctx := context.Background()
	sb := e.run(t, "web")
	for range 2 { // the second Stop is not reported again
		if err := e.svc.Stop(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	want := []string{"RunPodSandbox:" + sb.ID, "StopPodSandbox:" + sb.ID, "RemovePodSandbox:" + sb.ID}
	if got := hooks.Events(); !slices.Equal(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
	if !slices.Equal(hooks.SeenDuringRun, []bool{false}) {
		t.Errorf("pod visible during RunPodSandbox: %v", hooks.SeenDuringRun)
	}
	if n := hooks.Blocked(); n != 0 {
		t.Errorf("%d plugin sync blocks left", n)
	}
}

func TestNRIRunPodSandboxFails(t *testing.T) {
	e, hooks := newEnv(t), &sandboxtest.NRI{Recorder: nritest.Recorder{Fail: map[string]error{"RunPodSandbox": errors.New("boom")}}}
	e.withNRI(t, hooks)
	if _, err := e.svc.Run(context.Background(), sandbox.RunRequest{Config: podConfig("web")}); err == nil {
		t.Fatal("Run succeeded although the NRI hook failed")
	}
	if held := e.rec.Held(); len(held) != 0 {
		t.Errorf("leaked %q", held)
	}
	if n := len(e.svc.List(sandbox.Filter{})); n != 0 {
		t.Errorf("%d pods listed", n)
	}
	events := hooks.Events()
	if len(events) != 3 || !slices.Equal([]string{events[1][:14], events[2][:16]}, []string{"StopPodSandbox", "RemovePodSandbox"}) {
		t.Errorf("events = %q, want Run, Stop, Remove", events)
	}
	hooks.Fail = nil
	sb := e.run(t, "web") // the name is free again
	if sb.Status().State != sandbox.StateReady {
		t.Errorf("retried pod is %s", sb.Status().State)
	}
}
