package oci

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

var testPaths = NamespacePaths{Network: "/run/ns/net", IPC: "/run/ns/ipc", UTS: "/run/ns/uts", PID: "/run/ns/pid", TargetPID: "/proc/42/ns/pid"}

var testPathsUser = NamespacePaths{Network: "/run/ns/net", IPC: "/run/ns/ipc", UTS: "/run/ns/uts", PID: "/run/ns/pid", User: "/run/ns/user"}

func nsMap(s *specs.Spec) map[specs.LinuxNamespaceType]string {
	m := map[specs.LinuxNamespaceType]string{}
	for _, n := range s.Linux.Namespaces {
		m[n.Type] = n.Path
	}
	return m
}

func TestWithNamespaces(t *testing.T) {
	pod := runtimeapi.NamespaceMode_POD
	tests := []struct {
		desc     string
		o        *runtimeapi.NamespaceOption
		paths    NamespacePaths
		cgroupNS bool
		f        Features
		want     map[specs.LinuxNamespaceType]string
		wantErr  bool
	}{
		{desc: "pod net ipc, container pid", o: &runtimeapi.NamespaceOption{Network: pod, Ipc: pod, Pid: runtimeapi.NamespaceMode_CONTAINER}, paths: testPaths,
			want: map[specs.LinuxNamespaceType]string{"mount": "", "network": "/run/ns/net", "uts": "/run/ns/uts", "ipc": "/run/ns/ipc", "pid": ""}},
		{desc: "nil options mean pod network and ipc, pod pid", o: nil, paths: testPaths,
			want: map[specs.LinuxNamespaceType]string{"mount": "", "network": "/run/ns/net", "uts": "/run/ns/uts", "ipc": "/run/ns/ipc", "pid": "/run/ns/pid"}},
		{desc: "host network and ipc and pid", o: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Ipc: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_NODE},
			want: map[specs.LinuxNamespaceType]string{"mount": ""}},
		{desc: "target pid and cgroupns", o: &runtimeapi.NamespaceOption{Network: pod, Ipc: pod, Pid: runtimeapi.NamespaceMode_TARGET, TargetId: "c1"}, paths: testPaths, cgroupNS: true,
			want: map[specs.LinuxNamespaceType]string{"mount": "", "network": "/run/ns/net", "uts": "/run/ns/uts", "ipc": "/run/ns/ipc", "pid": "/proc/42/ns/pid", "cgroup": ""}},
		{desc: "target without id", o: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_TARGET}, paths: testPaths, wantErr: true},
		{desc: "pod pid without pid namespace", o: &runtimeapi.NamespaceOption{}, paths: NamespacePaths{Network: "/n", IPC: "/i", UTS: "/u"}, wantErr: true},
		{desc: "pod network without a namespace", o: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}, wantErr: true},
		{desc: "target for network", o: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_TARGET}, paths: testPaths, wantErr: true},
		{desc: "userns without support", o: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER, UsernsOptions: &runtimeapi.UserNamespace{Mode: pod}}, paths: testPaths, wantErr: true},
		{desc: "userns mappings", f: Features{UserNamespaces: true}, paths: testPathsUser,
			o: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER, UsernsOptions: &runtimeapi.UserNamespace{Mode: pod,
				Uids: []*runtimeapi.IDMapping{{HostId: 100000, Length: 65536}}, Gids: []*runtimeapi.IDMapping{{HostId: 100000, Length: 65536}}}},
			want: map[specs.LinuxNamespaceType]string{"mount": "", "network": "/run/ns/net", "uts": "/run/ns/uts", "ipc": "/run/ns/ipc", "pid": "", "user": "/run/ns/user"}},
		{desc: "userns without a pod user namespace", f: Features{UserNamespaces: true}, paths: testPaths,
			o: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER, UsernsOptions: &runtimeapi.UserNamespace{Mode: pod,
				Uids: []*runtimeapi.IDMapping{{HostId: 100000, Length: 65536}}, Gids: []*runtimeapi.IDMapping{{HostId: 100000, Length: 65536}}}}, wantErr: true},
		{desc: "userns two mappings", f: Features{UserNamespaces: true}, paths: testPaths,
			o: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER, UsernsOptions: &runtimeapi.UserNamespace{Mode: pod,
				Uids: []*runtimeapi.IDMapping{{Length: 1}, {ContainerId: 1, Length: 1}}, Gids: []*runtimeapi.IDMapping{{Length: 1}}}}, wantErr: true},
		{desc: "userns root not mapped", f: Features{UserNamespaces: true}, paths: testPaths,
			o: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER, UsernsOptions: &runtimeapi.UserNamespace{Mode: pod,
				Uids: []*runtimeapi.IDMapping{{ContainerId: 1, Length: 1}}, Gids: []*runtimeapi.IDMapping{{Length: 1}}}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, _ := New(WithDefaults())
			err := WithNamespaces(tc.o, tc.paths, tc.cgroupNS, tc.f)(s)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := nsMap(s)
			if len(got) != len(tc.want) {
				t.Fatalf("namespaces %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if p, ok := got[k]; !ok || p != v {
					t.Fatalf("namespaces %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestWithSysctls(t *testing.T) {
	pod := &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}
	host := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Ipc: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_NODE}
	tests := []struct {
		desc    string
		o       *runtimeapi.NamespaceOption
		in      map[string]string
		wantErr bool
	}{
		{desc: "namespaced in pod", o: pod, in: map[string]string{"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1", "fs.mqueue.msg_max": "20", "kernel.domainname": "x"}},
		{desc: "net sysctl on host network", o: host, in: map[string]string{"net.core.somaxconn": "1024"}, wantErr: true},
		{desc: "not namespaced", o: pod, in: map[string]string{"vm.swappiness": "1"}, wantErr: true},
		{desc: "slash form", o: pod, in: map[string]string{"net/ipv4/ip_forward": "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, _ := New(WithDefaults(), WithNamespaces(tc.o, testPaths, false, Features{}))
			err := WithSysctls(tc.in)(s)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tc.wantErr && len(s.Linux.Sysctl) != len(tc.in) {
				t.Fatalf("sysctl = %v", s.Linux.Sysctl)
			}
		})
	}
}
