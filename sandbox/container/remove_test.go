package container_test

import (
	"context"
	"os"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox/container"
)

func TestRemove(t *testing.T) {
	cases := []struct {
		desc  string
		start bool
		gone  bool
	}{
		{desc: "created"},
		{desc: "running is killed first", start: true},
		{desc: "exited, shim gone", start: true, gone: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			c := e.create(t, "app", "busybox")
			if tc.start {
				if err := e.svc.Start(context.Background(), c.ID); err != nil {
					t.Fatal(err)
				}
			}
			if tc.gone {
				e.shims.Exit(c.ID, 0, false)
				waitExited(t, c)
				e.shims.SetGone(podID, true)
			}
			for i := 0; i < 2; i++ {
				if err := e.svc.Remove(context.Background(), c.ID); err != nil {
					t.Fatalf("remove %d: %v", i, err)
				}
			}
			if _, err := e.svc.Get(c.ID); !errdefs.IsNotFound(err) {
				t.Errorf("get after remove: %v", err)
			}
			if tc.start && !tc.gone && e.shims.Proc(c.ID) != nil {
				t.Error("process left in the shim")
			}
			if m := e.rootfs.Mounted(); len(m) != 0 {
				t.Errorf("rootfs left: %q", m)
			}
			if _, err := os.Stat(c.Bundle); !os.IsNotExist(err) {
				t.Errorf("bundle left: %v", err)
			}
			if ids, _ := e.st.IDs("containers"); len(ids) != 0 {
				t.Errorf("records left: %q", ids)
			}
			if err := e.svc.Start(context.Background(), c.ID); !errdefs.IsNotFound(err) {
				t.Errorf("start after remove: %v", err)
			}
			e.create(t, "app", "busybox") // name released
		})
	}
}

func TestStopPodAndRemovePod(t *testing.T) {
	e := newEnv(t)
	a, b := e.started(t, "a", "busybox"), e.create(t, "b", "busybox")
	if err := e.svc.StopPod(context.Background(), podID); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.State != container.StateExited {
		t.Errorf("a = %+v", st)
	}
	if err := e.svc.RemovePod(context.Background(), podID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*container.Container{a, b} {
		if _, err := e.svc.Get(c.ID); !errdefs.IsNotFound(err) {
			t.Errorf("%s not removed: %v", c.Name, err)
		}
	}
}
