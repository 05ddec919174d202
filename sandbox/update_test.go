package sandbox_test

import (
	"context"
	"errors"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox/sandboxtest"
)

func TestUpdateResources(t *testing.T) {
	e := newEnv(t)
	sb := e.run(t, "resize")
	ctx := context.Background()
	res := &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 1 << 20}
	resized := func() int {
		n := 0
		for _, c := range e.rec.Calls() {
			if c == sandboxtest.CallResizeCgroup {
				n++
			}
		}
		return n
	}
	atRun := resized() // RunPodSandbox sizes the cgroup it makes
	if err := e.svc.UpdateResources(ctx, sb.ID, nil, res); err != nil || resized() != atRun+1 {
		t.Fatalf("ready pod with an owned cgroup: err %v, resizes %d, want %d", err, resized(), atRun+1)
	}
	e.rec.Fail(sandboxtest.CallResizeCgroup, errors.New("boom"))
	if err := e.svc.UpdateResources(ctx, sb.ID, nil, res); err == nil {
		t.Error("a failed resize is not reported")
	}
	e.rec.Fail(sandboxtest.CallResizeCgroup, nil)
	if err := e.svc.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.UpdateResources(ctx, sb.ID, nil, res); err != nil || resized() != atRun+2 {
		t.Errorf("stopped pod: err %v, resizes %d, want no new resize", err, resized())
	}
	if err := e.svc.UpdateResources(ctx, "missing", nil, res); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("missing pod: %v", err)
	}
}
