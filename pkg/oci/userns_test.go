package oci

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/podfiles"
)

func usernsPod(uids, gids []*runtimeapi.IDMapping) *runtimeapi.NamespaceOption {
	return &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER,
		UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: uids, Gids: gids}}
}

var oneMapping = []*runtimeapi.IDMapping{{HostId: 1000, Length: 100000}}

func TestPodUserNamespace(t *testing.T) {
	tests := []struct {
		desc      string
		o         *runtimeapi.NamespaceOption
		supported bool
		want      *IDMappings
		wantErr   bool
	}{
		{desc: "no options: host", o: &runtimeapi.NamespaceOption{}, supported: false},
		{desc: "nil namespace options: host", o: nil},
		{desc: "mode NODE: host", o: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}}},
		{desc: "mode NODE with mappings", o: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE, Uids: oneMapping, Gids: oneMapping}}, supported: true, wantErr: true},
		{desc: "mode POD", o: usernsPod(oneMapping, oneMapping), supported: true,
			want: &IDMappings{UIDs: []specs.LinuxIDMapping{{HostID: 1000, Size: 100000}}, GIDs: []specs.LinuxIDMapping{{HostID: 1000, Size: 100000}}}},
		{desc: "mode POD, handler without support", o: usernsPod(oneMapping, oneMapping), wantErr: true},
		{desc: "mode CONTAINER", o: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_CONTAINER}}, supported: true, wantErr: true},
		{desc: "mode TARGET", o: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_TARGET}}, supported: true, wantErr: true},
		{desc: "two uid mappings", o: usernsPod([]*runtimeapi.IDMapping{{HostId: 1000, Length: 100000}, {HostId: 2000, Length: 100000}}, oneMapping), supported: true, wantErr: true},
		{desc: "no gid mapping", o: usernsPod(oneMapping, nil), supported: true, wantErr: true},
		{desc: "container id 0 not mapped", o: usernsPod([]*runtimeapi.IDMapping{{ContainerId: 1, HostId: 1000, Length: 100000}}, oneMapping), supported: true, wantErr: true},
		{desc: "length 0", o: usernsPod(oneMapping, []*runtimeapi.IDMapping{{HostId: 1000}}), supported: true, wantErr: true},
		{desc: "overflow", o: usernsPod([]*runtimeapi.IDMapping{{HostId: 1 << 31, Length: 1 << 31}}, oneMapping), supported: true, wantErr: true},
		{desc: "host network (KEP-5607)", o: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE,
			UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: oneMapping, Gids: oneMapping}}, supported: true,
			want: &IDMappings{UIDs: []specs.LinuxIDMapping{{HostID: 1000, Size: 100000}}, GIDs: []specs.LinuxIDMapping{{HostID: 1000, Size: 100000}}}},
		{desc: "host pid", o: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_NODE,
			UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: oneMapping, Gids: oneMapping}}, supported: true, wantErr: true},
		{desc: "host ipc", o: &runtimeapi.NamespaceOption{Ipc: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_CONTAINER,
			UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: oneMapping, Gids: oneMapping}}, supported: true, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := PodUserNamespace(tc.o, tc.supported)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want InvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sameIDMappings(got, tc.want) {
				t.Fatalf("mappings = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestUserNamespaceHostNetworkSysfs: a container of a pod in its own user
// namespace on the host network binds the host's /sys read-only (a fresh
// sysfs needs a network namespace the user namespace owns); every other
// container mounts a fresh sysfs.
func TestUserNamespaceHostNetworkSysfs(t *testing.T) {
	userns := &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: oneMapping, Gids: oneMapping}
	for _, tc := range []struct {
		desc     string
		o        *runtimeapi.NamespaceOption
		wantBind bool
	}{
		{desc: "userns, host network", o: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_CONTAINER, UsernsOptions: userns}, wantBind: true},
		{desc: "userns, pod network", o: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER, UsernsOptions: userns}},
		{desc: "host users, host network", o: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_CONTAINER}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			in := ContainerInput{
				Config:     &runtimeapi.ContainerConfig{Command: []string{"/bin/true"}},
				Pod:        &runtimeapi.PodSandboxConfig{Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: tc.o}}},
				RootfsPath: "/rootfs", Namespaces: testPathsUser, Features: Features{UserNamespaces: true},
			}
			if tc.o.GetNetwork() == runtimeapi.NamespaceMode_NODE {
				in.Namespaces.Network, in.Namespaces.UTS = "", ""
			}
			s, err := BuildContainerSpec(in)
			if err != nil {
				t.Fatal(err)
			}
			var sys *specs.Mount
			for i := range s.Mounts {
				if s.Mounts[i].Destination == "/sys" {
					sys = &s.Mounts[i]
				}
			}
			if sys == nil {
				t.Fatal("no /sys mount")
			}
			bind := sys.Type == "bind" && sys.Source == "/sys" && slices.Contains(sys.Options, "rbind") && slices.Contains(sys.Options, "ro")
			if bind != tc.wantBind || !bind && sys.Type != "sysfs" {
				t.Fatalf("/sys = %+v, want a read-only bind of the host's: %v", sys, tc.wantBind)
			}
			// A slave: mounts the runtime makes below it (crun's
			// /sys/fs/cgroup) must not propagate back to the host's
			// /sys, which is shared on a systemd host.
			if bind && !slices.Contains(sys.Options, "rslave") {
				t.Errorf("/sys bind %v is not rslave", sys.Options)
			}
			if _, ok := nsMap(s)[specs.NetworkNamespace]; ok == (tc.o.GetNetwork() == runtimeapi.NamespaceMode_NODE) {
				t.Errorf("network namespace in spec = %v", ok)
			}
		})
	}
}

func TestBuildContainerSpecUserNamespace(t *testing.T) {
	podNS := usernsPod(oneMapping, oneMapping)
	other := []*runtimeapi.IDMapping{{HostId: 200000, Length: 65536}}
	tests := []struct {
		desc    string
		ctrNS   *runtimeapi.NamespaceOption
		podNS   *runtimeapi.NamespaceOption
		f       Features
		wantErr bool
		wantNS  bool
	}{
		{desc: "container names the pod's", ctrNS: podNS, podNS: podNS, f: Features{UserNamespaces: true}, wantNS: true},
		{desc: "container names none: joins the pod's", ctrNS: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}, podNS: podNS, f: Features{UserNamespaces: true}, wantNS: true},
		{desc: "container mappings differ", ctrNS: usernsPod(other, other), podNS: podNS, f: Features{UserNamespaces: true}, wantErr: true},
		{desc: "container asks for one, pod has none", ctrNS: podNS, podNS: &runtimeapi.NamespaceOption{}, f: Features{UserNamespaces: true}, wantErr: true},
		{desc: "container asks for host, pod has one", ctrNS: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}}, podNS: podNS, f: Features{UserNamespaces: true}, wantErr: true},
		{desc: "container on host network in a userns pod", ctrNS: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE}, podNS: podNS, f: Features{UserNamespaces: true}, wantErr: true},
		{desc: "handler without support", ctrNS: podNS, podNS: podNS, wantErr: true},
		{desc: "host userns", ctrNS: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}, podNS: &runtimeapi.NamespaceOption{}, f: Features{UserNamespaces: true}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			in := ContainerInput{
				Config: &runtimeapi.ContainerConfig{
					Command: []string{"/bin/true"},
					Mounts: []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: "/var/data"}, {ContainerPath: "/own", HostPath: "/var/own", UidMappings: other, GidMappings: other},
						{ContainerPath: "/img", Image: &runtimeapi.ImageSpec{Image: "registry.example/vol:1"}, Readonly: true}},
					Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: tc.ctrNS}},
				},
				Pod:        &runtimeapi.PodSandboxConfig{Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: tc.podNS}}},
				RootfsPath: "/rootfs", Namespaces: testPathsUser, Features: tc.f, MountSources: map[string]string{"/img": "/var/imgroot"},
				PodFiles: podfiles.Paths{Hosts: "/pod/hosts", Shm: "/pod/shm"},
			}
			s, err := BuildContainerSpec(in)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want InvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ns := nsMap(s)
			if _, ok := ns[specs.UserNamespace]; ok != tc.wantNS {
				t.Fatalf("user namespace in spec = %v, want %v (%v)", ok, tc.wantNS, ns)
			}
			want := []specs.LinuxIDMapping{{HostID: 1000, Size: 100000}}
			for _, m := range s.Mounts {
				switch {
				case m.Destination == "/own":
					if m.UIDMappings[0].HostID != 200000 {
						t.Fatalf("mount with its own mappings changed: %+v", m)
					}
				case m.Destination == "/img":
					if len(m.UIDMappings)+len(m.GIDMappings) > 0 {
						t.Fatalf("image volume idmapped (an overlay cannot be): %+v", m)
					}
				case m.Type != "bind":
					if len(m.UIDMappings) > 0 {
						t.Fatalf("non-bind mount idmapped: %+v", m)
					}
				case tc.wantNS:
					if !slices.Equal(m.UIDMappings, want) || !slices.Equal(m.GIDMappings, want) {
						t.Fatalf("bind mount %s not idmapped through the pod's userns: %+v", m.Destination, m)
					}
				default:
					if len(m.UIDMappings) > 0 {
						t.Fatalf("bind mount %s idmapped without a userns: %+v", m.Destination, m)
					}
				}
			}
			if tc.wantNS {
				if ns[specs.UserNamespace] != "/run/ns/user" || !slices.Equal(s.Linux.UIDMappings, want) || !slices.Equal(s.Linux.GIDMappings, want) {
					t.Fatalf("userns %q mappings %v %v", ns[specs.UserNamespace], s.Linux.UIDMappings, s.Linux.GIDMappings)
				}
			}
		})
	}
}

// TestBuildContainerSpecPodOwnedFiles: pod files that belong to the pod's
// root are bound without an idmap; a volume, and a kubelet /etc/hosts that
// takes the place of the pod's, still are idmapped. Pods recorded before
// (PodOwned false) keep their idmapped pod files.
func TestBuildContainerSpecPodOwnedFiles(t *testing.T) {
	podNS := usernsPod(oneMapping, oneMapping)
	for _, tc := range []struct {
		desc      string
		owned     bool
		idmapped  []string
		unchanged []string
	}{
		{desc: "owned by the pod's root", owned: true, idmapped: []string{"/data", "/etc/hosts"}, unchanged: []string{"/etc/hostname", "/etc/resolv.conf", "/dev/shm"}},
		{desc: "recorded before: idmapped", idmapped: []string{"/data", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev/shm"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			in := ContainerInput{
				Config: &runtimeapi.ContainerConfig{
					Command: []string{"/bin/true"},
					Mounts:  []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: "/var/data"}, {ContainerPath: "/etc/hosts", HostPath: "/var/lib/kubelet/pods/p/etc-hosts"}},
					Linux:   &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: podNS}},
				},
				Pod:        &runtimeapi.PodSandboxConfig{Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: podNS}}},
				RootfsPath: "/rootfs", Namespaces: testPathsUser, Features: Features{UserNamespaces: true},
				PodFiles: podfiles.Paths{Hostname: "/pod/hostname", Hosts: "/pod/hosts", ResolvConf: "/pod/resolv.conf", Shm: "/pod/shm", PodOwned: tc.owned},
			}
			s, err := BuildContainerSpec(in)
			if err != nil {
				t.Fatal(err)
			}
			byDest := map[string]specs.Mount{}
			for _, m := range s.Mounts {
				if m.Type == "bind" {
					byDest[m.Destination] = m
				}
			}
			if src := byDest["/etc/hosts"].Source; src != "/var/lib/kubelet/pods/p/etc-hosts" {
				t.Errorf("/etc/hosts is bound from %s, want the kubelet's", src)
			}
			want := []specs.LinuxIDMapping{{HostID: 1000, Size: 100000}}
			for _, d := range tc.idmapped {
				if m := byDest[d]; !slices.Equal(m.UIDMappings, want) || !slices.Equal(m.GIDMappings, want) {
					t.Errorf("%s is not idmapped through the pod's user namespace: %+v", d, m)
				}
			}
			for _, d := range tc.unchanged {
				m, ok := byDest[d]
				if !ok || len(m.UIDMappings)+len(m.GIDMappings) > 0 {
					t.Errorf("%s: bound %v, idmapped %+v; want bound as it is", d, ok, m)
				}
			}
		})
	}
}
