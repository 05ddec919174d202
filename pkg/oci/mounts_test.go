package oci

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/podfiles"
)

func TestCRIMount(t *testing.T) {
	rro := Features{RecursiveReadOnlyMounts: true}
	tests := []struct {
		desc     string
		m        *runtimeapi.Mount
		src      string
		f        Features
		wantOpts []string
		wantErr  bool
	}{
		{desc: "private rw", m: &runtimeapi.Mount{ContainerPath: "/data"}, src: "/host", wantOpts: []string{"rbind", "rprivate", "rw"}},
		{desc: "host to container ro", m: &runtimeapi.Mount{ContainerPath: "/d", Readonly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER}, src: "/h", wantOpts: []string{"rbind", "rslave", "ro"}},
		{desc: "bidirectional", m: &runtimeapi.Mount{ContainerPath: "/d", Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL}, src: "/h", wantOpts: []string{"rbind", "rshared", "rw"}},
		{desc: "selinux relabel ignored, options appended", m: &runtimeapi.Mount{ContainerPath: "/d", SelinuxRelabel: true, MountOptions: []string{"noexec"}}, src: "/h", wantOpts: []string{"rbind", "rprivate", "rw", "noexec"}},
		{desc: "recursive read-only", m: &runtimeapi.Mount{ContainerPath: "/d", Readonly: true, RecursiveReadOnly: true}, src: "/h", f: rro, wantOpts: []string{"rbind", "rprivate", "rro"}},
		{desc: "rro without readonly", m: &runtimeapi.Mount{ContainerPath: "/d", RecursiveReadOnly: true}, src: "/h", f: rro, wantErr: true},
		{desc: "rro not private", m: &runtimeapi.Mount{ContainerPath: "/d", Readonly: true, RecursiveReadOnly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER}, src: "/h", f: rro, wantErr: true},
		{desc: "rro unsupported by handler", m: &runtimeapi.Mount{ContainerPath: "/d", Readonly: true, RecursiveReadOnly: true}, src: "/h", wantErr: true},
		{desc: "relative container path", m: &runtimeapi.Mount{ContainerPath: "d"}, src: "/h", wantErr: true},
		{desc: "empty source", m: &runtimeapi.Mount{ContainerPath: "/d"}, src: "", wantErr: true},
		{desc: "unknown propagation", m: &runtimeapi.Mount{ContainerPath: "/d", Propagation: 7}, src: "/h", wantErr: true},
		{desc: "all three mount options", m: &runtimeapi.Mount{ContainerPath: "/d", MountOptions: []string{"nodev", "nosuid", "noexec"}}, src: "/h", wantOpts: []string{"rbind", "rprivate", "rw", "nodev", "nosuid", "noexec"}},
		{desc: "mount option rw on a read-only mount", m: &runtimeapi.Mount{ContainerPath: "/d", Readonly: true, MountOptions: []string{"rw"}}, src: "/h", wantErr: true},
		{desc: "mount option shared", m: &runtimeapi.Mount{ContainerPath: "/d", MountOptions: []string{"rshared"}}, src: "/h", wantErr: true},
		{desc: "idmap without userns", m: &runtimeapi.Mount{ContainerPath: "/d", UidMappings: []*runtimeapi.IDMapping{{Length: 1}}}, src: "/h", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := CRIMount(tc.m, tc.src, tc.f)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tc.wantErr && (!slices.Equal(got.Options, tc.wantOpts) || got.Type != "bind" || got.Source != tc.src) {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func destinations(ms []specs.Mount) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Destination)
	}
	return out
}

func TestWithMounts(t *testing.T) {
	tests := []struct {
		desc    string
		user    []specs.Mount
		has     []string
		hasNot  []string
		wantErr bool
	}{
		{desc: "defaults kept", has: []string{"/proc", "/dev", "/dev/shm", "/sys/fs/cgroup"}},
		{desc: "user replaces default", user: []specs.Mount{{Destination: "/dev/shm", Source: "/pod/shm", Type: "bind"}}, has: []string{"/dev/shm"}},
		{desc: "user /dev drops default /dev children", user: []specs.Mount{{Destination: "/dev", Source: "/hostdev", Type: "bind"}}, has: []string{"/dev", "/proc"}, hasNot: []string{"/dev/pts", "/dev/mqueue"}},
		{desc: "duplicate user destinations", user: []specs.Mount{{Destination: "/a"}, {Destination: "/a"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, _ := New(WithDefaults())
			err := WithMounts(tc.user)(s)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr {
				return
			}
			d := destinations(s.Mounts)
			for _, h := range tc.has {
				if n := countOf(d, h); n != 1 {
					t.Errorf("%s appears %d times in %v", h, n, d)
				}
			}
			for _, h := range tc.hasNot {
				if slices.Contains(d, h) {
					t.Errorf("%s present", h)
				}
			}
			for i := 1; i < len(d); i++ {
				if depth(d[i]) < depth(d[i-1]) {
					t.Errorf("mounts not sorted by depth: %v", d)
				}
			}
		})
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestPodFileMounts(t *testing.T) {
	tests := []struct {
		desc   string
		f      podfiles.Paths
		ro     bool
		want   []string
		wantRO bool
	}{
		{desc: "all", f: podfiles.Paths{Hostname: "/p/hostname", Hosts: "/p/hosts", ResolvConf: "/p/resolv.conf", Shm: "/p/shm"}, want: []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/dev/shm"}},
		{desc: "readonly rootfs", f: podfiles.Paths{Hosts: "/p/hosts"}, ro: true, want: []string{"/etc/hosts"}, wantRO: true},
		{desc: "none"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := PodFileMounts(tc.f, tc.ro)
			if !slices.Equal(destinations(got), tc.want) {
				t.Fatalf("got %v", destinations(got))
			}
			if len(got) > 0 && slices.Contains(got[0].Options, "ro") != tc.wantRO {
				t.Fatalf("options %v", got[0].Options)
			}
		})
	}
}
