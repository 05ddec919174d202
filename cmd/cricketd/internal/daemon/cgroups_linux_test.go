package daemon

import (
	"context"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/cgroups"
)

// fakeCgroups is a cgroups.Manager over a set of existing paths.
type fakeCgroups struct {
	cgroups.Manager
	exists map[string]bool
}

func (f *fakeCgroups) Exists(p string) bool { return f.exists[p] }

func (f *fakeCgroups) Create(p string, _ *specs.LinuxResources) error {
	f.exists[p] = true
	return nil
}

func TestPodCgroupsCreate(t *testing.T) {
	cases := []struct {
		desc      string
		driver    cgroups.Driver
		parent    string
		exists    bool
		wantPath  string
		wantOwned bool
	}{
		{desc: "kubelet's pod cgroup is used, not owned", driver: cgroups.Cgroupfs, parent: "/kubepods/podu1", exists: true, wantPath: "/kubepods/podu1"},
		{desc: "missing parent is created and owned", driver: cgroups.Cgroupfs, parent: "/mine", wantPath: "/mine", wantOwned: true},
		{desc: "no parent: a cgroup of the pod's own", driver: cgroups.Cgroupfs, wantPath: "/cricket/pod-abc", wantOwned: true},
		{desc: "systemd slice is never owned", driver: cgroups.Systemd, parent: "kubepods.slice", wantPath: "kubepods.slice"},
		{desc: "systemd default slice", driver: cgroups.Systemd, wantPath: cgroups.DefaultSystemdParent},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			f := &fakeCgroups{exists: map[string]bool{}}
			if tc.exists {
				f.exists[tc.parent] = true
			}
			cfg := &runtimeapi.PodSandboxConfig{Linux: &runtimeapi.LinuxPodSandboxConfig{CgroupParent: tc.parent}}
			pc := podCgroups{mgr: f, driver: tc.driver}
			p, owned, err := pc.Path("abc", cfg)
			if err != nil {
				t.Fatal(err)
			}
			if owned {
				if err := pc.Create(context.Background(), p); err != nil {
					t.Fatal(err)
				}
				if _, again, _ := pc.Path("abc", cfg); again {
					t.Error("a created cgroup is still to be owned")
				}
			}
			if p != tc.wantPath || owned != tc.wantOwned {
				t.Errorf("got %q owned %v, want %q owned %v", p, owned, tc.wantPath, tc.wantOwned)
			}
		})
	}
}
