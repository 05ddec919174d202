package container_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox/container"
)

func TestUpdate(t *testing.T) {
	valid := &runtimeapi.LinuxContainerResources{CpuShares: 512, CpuQuota: 20000, CpuPeriod: 100000, MemoryLimitInBytes: 64 << 20}
	cases := []struct {
		desc string
		// setup returns the container to update.
		setup   func(t *testing.T, e *env) string
		req     *runtimeapi.LinuxContainerResources
		shimErr error
		wantErr error
		// wantUpdates is the number of Update calls the shim sees.
		wantUpdates int
		wantApplied bool
	}{
		{
			desc:        "running container gets the new limits",
			setup:       func(t *testing.T, e *env) string { return e.started(t, "a", "busybox").ID },
			req:         valid,
			wantUpdates: 1,
			wantApplied: true,
		},
		{
			desc:        "created container gets them in its bundle",
			setup:       func(t *testing.T, e *env) string { return e.create(t, "a", "busybox").ID },
			req:         valid,
			wantApplied: true,
		},
		{
			desc:    "invalid resources are rejected before the shim",
			setup:   func(t *testing.T, e *env) string { return e.started(t, "a", "busybox").ID },
			req:     &runtimeapi.LinuxContainerResources{CpuShares: -1},
			wantErr: errdefs.ErrInvalidArgument,
		},
		{
			desc: "exited container cannot be updated",
			setup: func(t *testing.T, e *env) string {
				c := e.started(t, "a", "busybox")
				e.shims.Exit(c.ID, 0, false)
				waitExited(t, c)
				return c.ID
			},
			req:     valid,
			wantErr: errdefs.ErrFailedPrecondition,
		},
		{
			desc:    "missing container is not found",
			setup:   func(t *testing.T, e *env) string { return "nope" },
			req:     valid,
			wantErr: errdefs.ErrNotFound,
		},
		{
			desc:        "refused update is rolled back and not recorded",
			setup:       func(t *testing.T, e *env) string { return e.started(t, "a", "busybox").ID },
			req:         valid,
			shimErr:     errdefs.ErrInvalidArgument,
			wantErr:     errdefs.ErrInvalidArgument,
			wantUpdates: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			id := tc.setup(t, e)
			if tc.shimErr != nil {
				e.shims.Fail("Update", tc.shimErr)
			}
			err := e.svc.Update(context.Background(), id, tc.req)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Update: %v, want %v", err, tc.wantErr)
			}
			updates := slices.DeleteFunc(e.shims.Calls(), func(c string) bool { return c != "Update "+id })
			if len(updates) != tc.wantUpdates {
				t.Errorf("shim Update calls %v, want %d", updates, tc.wantUpdates)
			}
			c, err := e.svc.Get(id)
			if err != nil {
				return
			}
			if got := c.Resources(); proto.Equal(got, tc.req) != tc.wantApplied {
				t.Errorf("Resources() = %v, applied want %v", got, tc.wantApplied)
			}
			if !tc.wantApplied {
				return
			}
			if p := e.shims.Proc(id); tc.wantUpdates > 0 && (p.Resources == nil || *p.Resources.Memory.Limit != 64<<20) {
				t.Errorf("shim resources %+v", p.Resources)
			}
			if c.Status().State == container.StateCreated {
				checkBundleMemory(t, c.Bundle, 64<<20)
			}
			restarted := e.service(t)
			restarted.Load(context.Background())
			rc, err := restarted.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(rc.Resources(), tc.req) {
				t.Errorf("after restart Resources() = %v, want %v", rc.Resources(), tc.req)
			}
		})
	}
}

func checkBundleMemory(t *testing.T, bundle string, want int64) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	if r := spec.Linux.Resources; r == nil || r.Memory == nil || r.Memory.Limit == nil || *r.Memory.Limit != want {
		t.Errorf("bundle resources %+v, want memory limit %d", r, want)
	}
}

func TestUpdateNilChangesNothing(t *testing.T) {
	e := newEnv(t)
	c := e.started(t, "a", "busybox")
	if err := e.svc.Update(context.Background(), c.ID, nil); err != nil {
		t.Fatal(err)
	}
	if c.Status().Resources != nil {
		t.Errorf("resources recorded: %v", c.Status().Resources)
	}
}
