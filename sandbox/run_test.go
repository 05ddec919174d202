package sandbox_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/sandboxtest"
)

func TestRun(t *testing.T) {
	e := newEnv(t)
	sb := e.run(t, "web")
	if len(sb.ID) != 64 || sb.Status().State != sandbox.StateReady {
		t.Fatalf("sandbox %s state %s", sb.ID, sb.Status().State)
	}
	want := []string{"cgroup:/kubepods/pod-" + sb.ID, "files:" + sb.StateDir, "net:" + sb.ID, "ns:" + sb.StateDir, "shim:" + sb.ID}
	if got := e.rec.Held(); !slices.Equal(got, want) {
		t.Errorf("held = %q, want %q", got, want)
	}
	if sb.Network.IP != "10.88.0.2" || sb.Namespaces.Network == "" || sb.Namespaces.PID != "" {
		t.Errorf("metadata = %+v", sb.Metadata)
	}
	if ids, _ := e.st.IDs("sandboxes"); !slices.Equal(ids, []string{sb.ID}) {
		t.Errorf("persisted = %q", ids)
	}
}

func TestRunHostNetwork(t *testing.T) {
	e := newEnv(t)
	cfg := podConfig("host")
	cfg.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_POD,
	}}
	sb, err := e.svc.Run(context.Background(), sandbox.RunRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if sb.Namespaces.Network != "" || sb.Namespaces.UTS != "" || sb.Namespaces.IPC == "" || sb.Namespaces.PID == "" {
		t.Errorf("namespaces = %+v", sb.Namespaces)
	}
	if slices.Contains(e.rec.Calls(), sandboxtest.CallSetup) {
		t.Error("host-network pod was attached to the pod network")
	}
}

func TestRunRollsBackEachStep(t *testing.T) {
	boom := errors.New("boom")
	// A failed step is undone too (its teardown is idempotent and it may
	// have done half its work), then every earlier one, in reverse. The
	// shim starts right after the namespaces, alongside the network, files
	// and cgroup steps, so its start is left out of the order and its
	// failure is seen (and rolled back) after the cgroup step.
	cases := []struct {
		desc  string
		fail  string
		after string // the rollback follows this call; default fail
		undo  []string
	}{
		{desc: "pin fails", fail: sandboxtest.CallPin, undo: []string{sandboxtest.CallUnpin}},
		{desc: "network fails", fail: sandboxtest.CallSetup, undo: []string{sandboxtest.CallTeardown, sandboxtest.CallStopShim, sandboxtest.CallUnpin}},
		{desc: "files fail", fail: sandboxtest.CallWriteFiles, undo: []string{sandboxtest.CallRemoveFiles, sandboxtest.CallTeardown, sandboxtest.CallStopShim, sandboxtest.CallUnpin}},
		{desc: "cgroup fails", fail: sandboxtest.CallCreateCgroup, undo: []string{sandboxtest.CallRemoveCgroup, sandboxtest.CallRemoveFiles, sandboxtest.CallTeardown, sandboxtest.CallStopShim, sandboxtest.CallUnpin}},
		{desc: "shim fails", fail: sandboxtest.CallStartShim, after: sandboxtest.CallResizeCgroup, undo: []string{sandboxtest.CallRemoveCgroup, sandboxtest.CallRemoveFiles, sandboxtest.CallTeardown, sandboxtest.CallStopShim, sandboxtest.CallUnpin}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			e.rec.Fail(tc.fail, boom)
			_, err := e.svc.Run(context.Background(), sandbox.RunRequest{Config: podConfig("web")})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v, want boom", err)
			}
			calls := slices.DeleteFunc(e.rec.Calls(), func(c string) bool { return c == sandboxtest.CallStartShim })
			after := tc.after
			if after == "" {
				after = tc.fail
			}
			i := slices.Index(calls, after)
			if got := calls[i+1:]; !slices.Equal(got, tc.undo) {
				t.Errorf("rollback = %q, want %q", got, tc.undo)
			}
			if held := e.rec.Held(); len(held) != 0 {
				t.Errorf("leaked %q", held)
			}
			if entries, _ := os.ReadDir(filepath.Join(e.dir, "pods")); len(entries) != 0 {
				t.Errorf("state dirs left: %v", entries)
			}
			if len(e.svc.List(sandbox.Filter{})) != 0 {
				t.Error("failed sandbox is listed")
			}
			e.rec.Fail(tc.fail, nil)
			e.run(t, "web") // the name was released
		})
	}
}

func TestRunNameConflicts(t *testing.T) {
	cases := []struct {
		desc     string
		handler  string
		cancel   bool
		wantErr  error
		wantSame bool
	}{
		{desc: "name in use", wantErr: errdefs.ErrAlreadyExists},
		{desc: "unknown handler", handler: "nope", wantErr: errdefs.ErrNotFound},
		{desc: "retry after the first caller gave up gets its sandbox", cancel: true, wantSame: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancel {
				cancel()
			}
			first, err := e.svc.Run(ctx, sandbox.RunRequest{Config: podConfig("web")})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			second, err := e.svc.Run(context.Background(), sandbox.RunRequest{Config: podConfig("web"), RuntimeHandler: tc.handler})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || (second.ID == first.ID) != tc.wantSame {
				t.Fatalf("second run = %v, %v; first %s", second, err, first.ID)
			}
		})
	}
}

func TestRunWithoutMetadata(t *testing.T) {
	e := newEnv(t)
	_, err := e.svc.Run(context.Background(), sandbox.RunRequest{Config: &runtimeapi.PodSandboxConfig{}})
	if !errdefs.IsInvalidArgument(err) {
		t.Fatalf("err = %v, want InvalidArgument", err)
	}
}

func TestRunUserNamespace(t *testing.T) {
	mapping := []*runtimeapi.IDMapping{{HostId: 100000, Length: 65536}}
	cases := []struct {
		desc     string
		handler  string
		userns   *runtimeapi.UserNamespace
		wantErr  bool
		wantUser bool
	}{
		{desc: "mode POD", userns: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: mapping, Gids: mapping}, wantUser: true},
		{desc: "mode NODE", userns: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}},
		{desc: "handler without support", handler: "no-userns", userns: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: mapping, Gids: mapping}, wantErr: true},
		{desc: "no gid mapping", userns: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: mapping}, wantErr: true},
		{desc: "mode CONTAINER", userns: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_CONTAINER}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			e := newEnv(t)
			cfg := podConfig("userns")
			cfg.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{
				Pid: runtimeapi.NamespaceMode_CONTAINER, UsernsOptions: tc.userns,
			}}
			sb, err := e.svc.Run(context.Background(), sandbox.RunRequest{Config: cfg, RuntimeHandler: tc.handler})
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("Run = %v, want InvalidArgument", err)
				}
				if slices.Contains(e.rec.Calls(), sandboxtest.CallPin) {
					t.Error("a refused pod had its namespaces pinned")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (sb.Namespaces.User != "") != tc.wantUser {
				t.Errorf("user namespace = %q, want one: %v", sb.Namespaces.User, tc.wantUser)
			}
		})
	}
}
