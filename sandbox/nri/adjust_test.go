package nri

import (
	"errors"
	"reflect"
	"testing"

	api "github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func baseSpec() *specs.Spec {
	return &specs.Spec{
		Process: &specs.Process{
			Args: []string{"/pause"},
			Env:  []string{"PATH=/bin", "KEEP=1", "DROP=1"},
		},
		Annotations: map[string]string{"keep": "1", "drop": "1"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/data", Type: "bind", Source: "/old"},
		},
		Linux: &specs.Linux{
			CgroupsPath: "/pod/ctr",
			Resources: &specs.LinuxResources{
				Memory: &specs.LinuxMemory{Limit: ptr[int64](100)},
				CPU:    &specs.LinuxCPU{Shares: ptr[uint64](2), Quota: ptr[int64](5000)},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func TestAdjust(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		adjust *api.ContainerAdjustment
		check  func(t *testing.T, s *specs.Spec)
	}{
		{
			desc:   "nil adjustment changes nothing",
			adjust: nil,
			check: func(t *testing.T, s *specs.Spec) {
				if !reflect.DeepEqual(s, baseSpec()) {
					t.Errorf("spec changed: %+v", s)
				}
			},
		},
		{
			desc: "env is replaced, added and removed",
			adjust: &api.ContainerAdjustment{Env: []*api.KeyValue{
				{Key: "PATH", Value: "/usr/bin"}, {Key: "NEW", Value: "x"}, {Key: "-DROP"},
			}},
			check: func(t *testing.T, s *specs.Spec) {
				want := []string{"KEEP=1", "PATH=/usr/bin", "NEW=x"}
				if !reflect.DeepEqual(s.Process.Env, want) {
					t.Errorf("env = %v, want %v", s.Process.Env, want)
				}
			},
		},
		{
			desc:   "annotations are set and removed",
			adjust: &api.ContainerAdjustment{Annotations: map[string]string{"new": "v", "-drop": ""}},
			check: func(t *testing.T, s *specs.Spec) {
				want := map[string]string{"keep": "1", "new": "v"}
				if !reflect.DeepEqual(s.Annotations, want) {
					t.Errorf("annotations = %v, want %v", s.Annotations, want)
				}
			},
		},
		{
			desc: "a mount replaces the one at its destination and parents come first",
			adjust: &api.ContainerAdjustment{Mounts: []*api.Mount{
				{Destination: "/data", Type: "bind", Source: "/new", Options: []string{"rbind", "ro"}},
				{Destination: "/a/b/c", Type: "tmpfs", Source: "tmpfs"},
			}},
			check: func(t *testing.T, s *specs.Spec) {
				var dests []string
				for _, m := range s.Mounts {
					dests = append(dests, m.Destination+"="+m.Source)
				}
				want := []string{"/proc=proc", "/data=/new", "/a/b/c=tmpfs"}
				if !reflect.DeepEqual(dests, want) {
					t.Errorf("mounts = %v, want %v", dests, want)
				}
			},
		},
		{
			desc:   "a mount marked for removal goes",
			adjust: &api.ContainerAdjustment{Mounts: []*api.Mount{{Destination: "-/data"}}},
			check: func(t *testing.T, s *specs.Spec) {
				if len(s.Mounts) != 1 || s.Mounts[0].Destination != "/proc" {
					t.Errorf("mounts = %+v", s.Mounts)
				}
			},
		},
		{
			desc:   "args are replaced",
			adjust: &api.ContainerAdjustment{Args: []string{"sleep", "1"}},
			check: func(t *testing.T, s *specs.Spec) {
				if !reflect.DeepEqual(s.Process.Args, []string{"sleep", "1"}) {
					t.Errorf("args = %v", s.Process.Args)
				}
			},
		},
		{
			desc: "hooks are appended",
			adjust: &api.ContainerAdjustment{Hooks: &api.Hooks{
				CreateRuntime: []*api.Hook{{Path: "/bin/hook", Args: []string{"hook", "x"}}},
			}},
			check: func(t *testing.T, s *specs.Spec) {
				if s.Hooks == nil || len(s.Hooks.CreateRuntime) != 1 || s.Hooks.CreateRuntime[0].Path != "/bin/hook" {
					t.Errorf("hooks = %+v", s.Hooks)
				}
			},
		},
		{
			desc:   "rlimits replace those of the same type",
			adjust: &api.ContainerAdjustment{Rlimits: []*api.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 10, Soft: 5}}},
			check: func(t *testing.T, s *specs.Spec) {
				want := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 10, Soft: 5}}
				if !reflect.DeepEqual(s.Process.Rlimits, want) {
					t.Errorf("rlimits = %+v", s.Process.Rlimits)
				}
			},
		},
		{
			desc: "resources set override, others stay",
			adjust: &api.ContainerAdjustment{Linux: &api.LinuxContainerAdjustment{Resources: &api.LinuxResources{
				Memory: &api.LinuxMemory{Limit: api.Int64(200)},
				Cpu:    &api.LinuxCPU{Shares: api.UInt64(4), Cpus: "0-1"},
				Pids:   &api.LinuxPids{Limit: 64},
			}}},
			check: func(t *testing.T, s *specs.Spec) {
				r := s.Linux.Resources
				if *r.Memory.Limit != 200 || *r.CPU.Shares != 4 || *r.CPU.Quota != 5000 || r.CPU.Cpus != "0-1" || *r.Pids.Limit != 64 {
					t.Errorf("resources = mem %d shares %d quota %d cpus %q pids %+v",
						*r.Memory.Limit, *r.CPU.Shares, *r.CPU.Quota, r.CPU.Cpus, r.Pids)
				}
			},
		},
		{
			desc: "cgroups path, oom score and sysctls",
			adjust: &api.ContainerAdjustment{Linux: &api.LinuxContainerAdjustment{
				CgroupsPath: "/other", OomScoreAdj: api.Int(500), Sysctl: map[string]string{"net.core.somaxconn": "1024"},
			}},
			check: func(t *testing.T, s *specs.Spec) {
				if s.Linux.CgroupsPath != "/other" || *s.Process.OOMScoreAdj != 500 || s.Linux.Sysctl["net.core.somaxconn"] != "1024" {
					t.Errorf("linux = %+v, oom %v", s.Linux, s.Process.OOMScoreAdj)
				}
			},
		},
		{
			desc: "a device is added and allowed",
			adjust: &api.ContainerAdjustment{Linux: &api.LinuxContainerAdjustment{Devices: []*api.LinuxDevice{
				{Path: "/dev/foo", Type: "c", Major: 10, Minor: 200},
			}}},
			check: func(t *testing.T, s *specs.Spec) {
				if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != "/dev/foo" {
					t.Fatalf("devices = %+v", s.Linux.Devices)
				}
				d := s.Linux.Resources.Devices
				if len(d) != 1 || !d[0].Allow || *d[0].Major != 10 || *d[0].Minor != 200 {
					t.Errorf("device cgroup = %+v", d)
				}
			},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := baseSpec()
			if err := Adjust(s, tc.adjust); err != nil {
				t.Fatalf("Adjust: %v", err)
			}
			tc.check(t, s)
		})
	}
}

func TestAdjustUnsupported(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		adjust *api.ContainerAdjustment
	}{
		{"CDI devices", &api.ContainerAdjustment{CDIDevices: []*api.CDIDevice{{Name: "vendor.com/gpu=0"}}}},
		{"seccomp policy", &api.ContainerAdjustment{Linux: &api.LinuxContainerAdjustment{SeccompPolicy: &api.LinuxSeccomp{}}}},
		{"block I/O class", &api.ContainerAdjustment{Linux: &api.LinuxContainerAdjustment{Resources: &api.LinuxResources{BlockioClass: api.String("x")}}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := Adjust(baseSpec(), tc.adjust)
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("Adjust = %v, want ErrInvalidArgument", err)
			}
		})
	}
}
