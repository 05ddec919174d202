package runtime

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func specsMount(src, dst, typ string) specs.Mount {
	m := specs.Mount{Source: src, Destination: dst, Type: typ}
	if typ == "bind" {
		m.Options = []string{"rbind"}
	}
	return m
}

func TestIsSystemdCgroupsPath(t *testing.T) {
	tests := []struct {
		desc, path string
		want       bool
	}{
		{desc: "cgroupfs absolute", path: "/kubepods/pod1/c1", want: false},
		{desc: "systemd triple", path: "kubepods.slice:cri-cricket:c1", want: true},
		{desc: "empty", path: "", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := isSystemdCgroupsPath(tc.path); got != tc.want {
				t.Fatalf("isSystemdCgroupsPath(%q) = %v", tc.path, got)
			}
		})
	}
}

func TestNewProcessRlimits(t *testing.T) {
	p := &specs.Process{Args: []string{"sh"}, Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 10, Soft: 5}}}
	lp, err := newProcess(p, Stdio{})
	if err != nil || len(lp.Rlimits) != 1 || lp.Rlimits[0].Soft != 5 {
		t.Fatalf("newProcess = %+v, %v", lp, err)
	}
	if lp.Stdin != nil || lp.Stdout != nil {
		t.Fatal("nil stdio must stay nil interfaces")
	}
	p.Rlimits[0].Type = "RLIMIT_BOGUS"
	if _, err := newProcess(p, Stdio{}); err == nil {
		t.Fatal("unknown rlimit accepted")
	}
}

func TestAbsolutize(t *testing.T) {
	spec := &specs.Spec{Root: &specs.Root{Path: "rootfs"}}
	spec.Mounts = append(spec.Mounts,
		specsMount("data", "/data", "bind"),
		specsMount("tmpfs", "/run", "tmpfs"))
	absolutize(spec, "/b")
	if spec.Root.Path != "/b/rootfs" {
		t.Errorf("root = %s", spec.Root.Path)
	}
	n := len(spec.Mounts)
	if spec.Mounts[n-2].Source != "/b/data" || spec.Mounts[n-1].Source != "tmpfs" {
		t.Errorf("mount sources = %s, %s", spec.Mounts[n-2].Source, spec.Mounts[n-1].Source)
	}
}
