package oci

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/podfiles"
)

func testSandbox() *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Uid: "u", Namespace: "ns"},
		Hostname: "pod-host",
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/kubepods/podu",
			Sysctls:      map[string]string{"net.ipv4.ping_group_range": "0 2147483647"},
		},
	}
}

func testInput(cfg *runtimeapi.ContainerConfig) ContainerInput {
	return ContainerInput{
		Config:      cfg,
		Pod:         testSandbox(),
		Image:       ImageConfig{Entrypoint: []string{"/bin/sh"}, Cmd: []string{"-c", "sleep 1"}, Env: []string{"PATH=/bin", "IMG=1"}, WorkingDir: "/work"},
		RootfsPath:  "/var/lib/cricket/rootfs/c1",
		CgroupsPath: "/kubepods/podu/c1",
		Namespaces:  NamespacePaths{Network: "/run/cricket/sb/ns/net", IPC: "/run/cricket/sb/ns/ipc", UTS: "/run/cricket/sb/ns/uts"},
		PodFiles:    podfiles.Paths{Hostname: "/run/cricket/sb/hostname", Hosts: "/run/cricket/sb/hosts", ResolvConf: "/run/cricket/sb/resolv.conf", Shm: "/run/cricket/sb/shm"},
		User:        User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000}},
		Arch:        "amd64",
	}
}

func baseConfig() *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "c"},
		Image:    &runtimeapi.ImageSpec{Image: "busybox"},
		Envs:     []*runtimeapi.KeyValue{{Key: "IMG", Value: []byte("2")}, {Key: "X", Value: []byte("y")}},
		Linux: &runtimeapi.LinuxContainerConfig{
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER},
				Seccomp:          &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
			},
			Resources: &runtimeapi.LinuxContainerResources{CpuShares: 256, MemoryLimitInBytes: 64 << 20, OomScoreAdj: 500},
		},
	}
}

// checkOrdinarySpec checks the spec of baseConfig in testInput.
func checkOrdinarySpec(t *testing.T, s *specs.Spec) {
	if !slices.Equal(s.Process.Args, []string{"/bin/sh", "-c", "sleep 1"}) {
		t.Errorf("args %q", s.Process.Args)
	}
	if !slices.Equal(s.Process.Env, []string{"PATH=/bin", "HOSTNAME=pod-host", "IMG=2", "X=y"}) {
		t.Errorf("env %q", s.Process.Env)
	}
	if s.Process.Cwd != "/work" || s.Process.User.UID != 1000 || s.Root.Path == "" || s.Linux.CgroupsPath != "/kubepods/podu/c1" {
		t.Errorf("process %+v root %+v", s.Process, s.Root)
	}
	if s.Linux.Seccomp == nil || len(s.Linux.MaskedPaths) == 0 || *s.Process.OOMScoreAdj != 500 || *s.Linux.Resources.CPU.Shares != 256 {
		t.Errorf("security/resources not applied: %+v", s.Linux)
	}
	if s.Linux.Sysctl["net.ipv4.ping_group_range"] == "" {
		t.Errorf("sysctls %v", s.Linux.Sysctl)
	}
	d := destinations(s.Mounts)
	for _, want := range []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/dev/shm", "/proc"} {
		if countOf(d, want) != 1 {
			t.Errorf("mount %s: %v", want, d)
		}
	}
	if err := Validate(s); err != nil {
		t.Error(err)
	}
}

func TestBuildContainerSpec(t *testing.T) {
	tests := []struct {
		desc    string
		mutate  func(*ContainerInput)
		check   func(*testing.T, *specs.Spec)
		wantErr bool
	}{
		{desc: "ordinary container", check: checkOrdinarySpec},
		{desc: "kubelet /etc/hosts mount wins", mutate: func(in *ContainerInput) {
			in.Config.Mounts = []*runtimeapi.Mount{{ContainerPath: "/etc/hosts", HostPath: "/var/lib/kubelet/pods/u/etc-hosts"}}
		}, check: func(t *testing.T, s *specs.Spec) {
			for _, m := range s.Mounts {
				if m.Destination == "/etc/hosts" && m.Source != "/var/lib/kubelet/pods/u/etc-hosts" {
					t.Errorf("hosts from %s", m.Source)
				}
			}
		}},
		{desc: "mount source resolved by caller", mutate: func(in *ContainerInput) {
			in.Config.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: "/link"}}
			in.MountSources = map[string]string{"/data": "/real"}
		}, check: func(t *testing.T, s *specs.Spec) {
			if !slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/data" && m.Source == "/real" }) {
				t.Errorf("mounts %+v", s.Mounts)
			}
		}},
		{desc: "privileged", mutate: func(in *ContainerInput) {
			in.Pod.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{Privileged: true}
			in.Config.Linux.SecurityContext.Privileged = true
			in.HostDevices = []Device{{Path: "/dev/sda", Type: "b", Major: 8}}
		}, check: func(t *testing.T, s *specs.Spec) {
			if s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 || len(s.Linux.Devices) != 1 {
				t.Errorf("privileged spec %+v", s.Linux)
			}
		}},
		{desc: "read-only rootfs makes etc files ro", mutate: func(in *ContainerInput) {
			in.Config.Linux.SecurityContext.ReadonlyRootfs = true
		}, check: func(t *testing.T, s *specs.Spec) {
			if !s.Root.Readonly {
				t.Error("rootfs writable")
			}
			for _, m := range s.Mounts {
				if m.Destination == "/etc/hosts" && !slices.Contains(m.Options, "ro") {
					t.Errorf("hosts %v", m.Options)
				}
			}
		}},
		{desc: "oom clamped", mutate: func(in *ContainerInput) {
			min := 0
			in.MinOOMScoreAdj = &min
			in.Config.Linux.Resources.OomScoreAdj = -998
		}, check: func(t *testing.T, s *specs.Spec) {
			if *s.Process.OOMScoreAdj != 0 {
				t.Errorf("oom %d", *s.Process.OOMScoreAdj)
			}
		}},
		{desc: "privileged in unprivileged pod", mutate: func(in *ContainerInput) { in.Config.Linux.SecurityContext.Privileged = true }, wantErr: true},
		{desc: "run_as_group without user", mutate: func(in *ContainerInput) {
			in.Config.Linux.SecurityContext.RunAsGroup = &runtimeapi.Int64Value{Value: 1}
		}, wantErr: true},
		{desc: "no command", mutate: func(in *ContainerInput) { in.Image = ImageConfig{} }, wantErr: true},
		{desc: "relative workdir", mutate: func(in *ContainerInput) { in.Config.WorkingDir = "rel" }, wantErr: true},
		{desc: "unresolved image volume", mutate: func(in *ContainerInput) {
			in.Config.Mounts = []*runtimeapi.Mount{{ContainerPath: "/vol", Image: &runtimeapi.ImageSpec{Image: "data:1"}}}
		}, wantErr: true},
		{desc: "localhost seccomp not loaded", mutate: func(in *ContainerInput) {
			in.Config.Linux.SecurityContext.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/x.json"}
		}, wantErr: true},
		{desc: "nil config", mutate: func(in *ContainerInput) { in.Config = nil }, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			in := testInput(baseConfig())
			if tc.mutate != nil {
				tc.mutate(&in)
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
			tc.check(t, s)
		})
	}
}

// seedConfigs are the fuzz seeds, also written to testdata/fuzz by
// TestWriteFuzzSeeds when CRICKET_WRITE_FUZZ_SEEDS=1. They reach mounts,
// the security context, resources and devices, so that mutations start
// from every branch of the translation.
func seedConfigs() []*runtimeapi.ContainerConfig {
	priv := baseConfig()
	priv.Linux.SecurityContext.Privileged = true
	mounts := baseConfig()
	mounts.Mounts = []*runtimeapi.Mount{
		{ContainerPath: "/d", HostPath: "/h", Readonly: true, RecursiveReadOnly: true},
		{ContainerPath: "/d/sub", HostPath: "/h2", Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL, MountOptions: []string{"noexec"}},
		{ContainerPath: "/etc/hosts", HostPath: "/k/etc-hosts", Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
		{ContainerPath: "/dev", HostPath: "/dev"},
		{ContainerPath: "/img", Image: &runtimeapi.ImageSpec{Image: "busybox"}, ImageSubPath: "bin"},
		{ContainerPath: "/idm", HostPath: "/h3", UidMappings: []*runtimeapi.IDMapping{{HostId: 1000, Length: 1}}},
	}
	caps := baseConfig()
	caps.Linux.SecurityContext.Capabilities = &runtimeapi.Capability{AddCapabilities: []string{"ALL"}, DropCapabilities: []string{"CHOWN"}, AddAmbientCapabilities: []string{"NET_RAW"}}
	sec := baseConfig()
	sec.Linux.SecurityContext = &runtimeapi.LinuxContainerSecurityContext{
		RunAsUser: &runtimeapi.Int64Value{Value: 1000}, RunAsGroup: &runtimeapi.Int64Value{Value: 1000},
		SupplementalGroups: []int64{5, 6}, ReadonlyRootfs: true, NoNewPrivs: true,
		MaskedPaths: []string{"/proc/x"}, ReadonlyPaths: []string{"/proc/y"},
		NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_NODE},
		Seccomp:          &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined},
		Apparmor:         &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault},
		SelinuxOptions:   &runtimeapi.SELinuxOption{User: "u", Role: "r", Type: "t", Level: "s0"},
		Capabilities:     &runtimeapi.Capability{DropCapabilities: []string{"ALL"}, AddCapabilities: []string{"CAP_KILL"}},
	}
	res := baseConfig()
	res.Linux.Resources = &runtimeapi.LinuxContainerResources{
		CpuPeriod: 100000, CpuQuota: 50000, CpuShares: 2, MemoryLimitInBytes: 1 << 30, MemorySwapLimitInBytes: 2 << 30,
		OomScoreAdj: -1000, CpusetCpus: "0-1", CpusetMems: "0",
		HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}},
		Unified:        map[string]string{"memory.high": "1000000", "pids.max": "10"},
	}
	devs := baseConfig()
	devs.Devices = []*runtimeapi.Device{
		{ContainerPath: "/dev/fuse", HostPath: "/dev/fuse", Permissions: "rw"},
		{ContainerPath: "/dev/sdx", HostPath: "/dev/sda", Permissions: "mwr"},
	}
	cmd := baseConfig()
	cmd.Command, cmd.Args, cmd.WorkingDir = []string{"/bin/true"}, []string{"a", "b"}, "/w"
	cmd.Envs = append(cmd.Envs, &runtimeapi.KeyValue{Key: "PATH", Value: []byte("/x")})
	cmd.Tty, cmd.Stdin = true, true
	return []*runtimeapi.ContainerConfig{{}, baseConfig(), priv, mounts, caps, sec, res, devs, cmd}
}

// seedSandbox pairs with seedConfigs()[i]: an empty one keeps testSandbox
// as is, the others switch on host namespaces, privilege and user
// namespaces.
func seedSandbox(i int) *runtimeapi.PodSandboxConfig {
	host := &runtimeapi.PodSandboxConfig{Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
		Privileged:       true,
		NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_NODE, Ipc: runtimeapi.NamespaceMode_NODE},
	}}}
	userns := &runtimeapi.PodSandboxConfig{Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD,
			Uids: []*runtimeapi.IDMapping{{HostId: 100000, Length: 65536}}, Gids: []*runtimeapi.IDMapping{{HostId: 100000, Length: 65536}}}},
	}}}
	switch i {
	case 2:
		return host
	case 3:
		return userns
	}
	return &runtimeapi.PodSandboxConfig{}
}

// fuzzInput builds the builder's input from a fuzzed container config and
// fuzzed sandbox fields merged over testSandbox. The config's devices
// become resolved devices, as ResolveDevice would return them.
func fuzzInput(cfg *runtimeapi.ContainerConfig, sb *runtimeapi.PodSandboxConfig) ContainerInput {
	in := testInput(cfg)
	proto.Merge(in.Pod, sb)
	for i, d := range cfg.GetDevices() {
		in.Devices = append(in.Devices, Device{Path: d.GetContainerPath(), Type: "c", Major: 10, Minor: int64(i), FileMode: 0o600, Permissions: d.GetPermissions()})
	}
	in.Features = Features{RecursiveReadOnlyMounts: true, UserNamespaces: true}
	for _, m := range cfg.GetMounts() {
		if m.GetImage().GetImage() != "" {
			if in.MountSources == nil {
				in.MountSources = map[string]string{}
			}
			in.MountSources[m.GetContainerPath()] = "/var/lib/cricket/imagevolumes/" + m.GetImage().GetImage()
		}
	}
	return in
}

func FuzzBuildContainerSpec(f *testing.F) {
	for i, c := range seedConfigs() {
		b, err := proto.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		sb, err := proto.Marshal(seedSandbox(i))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, sb)
	}
	f.Fuzz(func(t *testing.T, data, sbData []byte) {
		cfg := &runtimeapi.ContainerConfig{}
		sb := &runtimeapi.PodSandboxConfig{}
		if proto.Unmarshal(data, cfg) != nil || proto.Unmarshal(sbData, sb) != nil {
			return
		}
		in := fuzzInput(cfg, sb)
		s, err := BuildContainerSpec(in)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("error is not InvalidArgument: %v", err)
			}
			return
		}
		if err := Validate(s); err != nil {
			t.Fatalf("built an invalid spec: %v", err)
		}
		checkFuzzedSpec(t, in, s)
	})
}

// checkFuzzedSpec checks the safety properties of any spec the builder
// accepts: clean mount destinations, and for a non-privileged container
// the default confinement (deny-all device cgroup plus only the requested
// devices, masked /proc paths outside user namespaces, read-only sysfs, no CAP_SYS_ADMIN unless
// asked for).
func checkFuzzedSpec(t *testing.T, in ContainerInput, s *specs.Spec) {
	for _, m := range s.Mounts {
		if m.Destination != path.Clean(m.Destination) || strings.IndexByte(m.Destination, 0) >= 0 {
			t.Fatalf("mount destination %q is not clean", m.Destination)
		}
		if m.Type == "bind" && !path.IsAbs(m.Source) {
			t.Fatalf("bind mount %s has relative source %q", m.Destination, m.Source)
		}
	}
	sc := in.Config.GetLinux().GetSecurityContext()
	if sc.GetPrivileged() {
		return
	}
	if len(s.Linux.Devices) != len(in.Devices) {
		t.Fatalf("non-privileged spec has %d devices, %d asked for", len(s.Linux.Devices), len(in.Devices))
	}
	rules := s.Linux.Resources.Devices
	if len(rules) == 0 || rules[0].Allow || rules[0].Access != "rwm" {
		t.Fatalf("device cgroup does not start with deny-all: %+v", rules)
	}
	for _, r := range rules[1:] {
		if r.Allow && (r.Major == nil || r.Minor == nil) {
			t.Fatalf("device cgroup allows a wildcard: %+v", r)
		}
	}
	// An empty list unmasks /proc only in a pod with its own user
	// namespace (procPaths).
	if len(sc.GetMaskedPaths()) == 0 && !podUserNamespace(in.Pod) && !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") {
		t.Fatalf("default masked paths missing: %v", s.Linux.MaskedPaths)
	}
	for _, m := range s.Mounts {
		if m.Type == "sysfs" && !slices.Contains(m.Options, "ro") {
			t.Fatalf("non-privileged sysfs is writable: %v", m.Options)
		}
	}
	askedAdmin := slices.ContainsFunc(sc.GetCapabilities().GetAddCapabilities(), func(c string) bool {
		c = strings.ToUpper(c)
		return c == "ALL" || c == "SYS_ADMIN" || c == "CAP_SYS_ADMIN"
	})
	if c := s.Process.Capabilities; c != nil && !askedAdmin && slices.Contains(c.Bounding, "CAP_SYS_ADMIN") {
		t.Fatalf("CAP_SYS_ADMIN granted without being asked for: %v", c.Bounding)
	}
}

// TestWriteFuzzSeeds regenerates the committed seed corpus on demand.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("CRICKET_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set CRICKET_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzBuildContainerSpec")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, c := range seedConfigs() {
		b, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := proto.Marshal(seedSandbox(i))
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n[]byte(%s)\n", strconv.Quote(string(b)), strconv.Quote(string(sb)))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestProcPathsUnmasked: empty masked and read-only lists (what the
// kubelet sends for procMount: Unmasked) mean none in a pod with its own
// user namespace, and keep the defaults in any other pod.
func TestProcPathsUnmasked(t *testing.T) {
	userns := &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD,
		Uids: []*runtimeapi.IDMapping{{HostId: 100000, Length: 65536}}, Gids: []*runtimeapi.IDMapping{{HostId: 100000, Length: 65536}}}
	kubeletDefault := &runtimeapi.LinuxContainerSecurityContext{MaskedPaths: []string{"/proc/kcore"}, ReadonlyPaths: []string{"/proc/sys"}}
	tests := []struct {
		desc         string
		sc           *runtimeapi.LinuxContainerSecurityContext
		userns       *runtimeapi.UserNamespace
		wantMasked   []string
		wantReadonly []string
	}{
		{desc: "unmasked in a user namespace", sc: &runtimeapi.LinuxContainerSecurityContext{}, userns: userns},
		{desc: "no security context in a user namespace", userns: userns},
		{desc: "kubelet's lists in a user namespace", sc: kubeletDefault, userns: userns, wantMasked: []string{"/proc/kcore"}, wantReadonly: []string{"/proc/sys"}},
		{desc: "empty lists with host users keep the defaults", sc: &runtimeapi.LinuxContainerSecurityContext{}, wantMasked: DefaultMaskedPaths, wantReadonly: DefaultReadonlyPaths},
		{desc: "user namespace mode NODE keeps the defaults", sc: &runtimeapi.LinuxContainerSecurityContext{}, userns: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_NODE}, wantMasked: DefaultMaskedPaths, wantReadonly: DefaultReadonlyPaths},
		{desc: "kubelet's lists with host users", sc: kubeletDefault, wantMasked: []string{"/proc/kcore"}, wantReadonly: []string{"/proc/sys"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			pod := testSandbox()
			pod.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{UsernsOptions: tc.userns}}
			s, err := New(WithDefaults(), procPaths(tc.sc, pod))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Linux.MaskedPaths, tc.wantMasked) || !slices.Equal(s.Linux.ReadonlyPaths, tc.wantReadonly) {
				t.Fatalf("masked %v, readonly %v; want %v, %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, tc.wantMasked, tc.wantReadonly)
			}
		})
	}
}

// TestDeviceOwnershipFromSecurityContext: with the option, requested and
// privileged host devices are owned by run_as_user and run_as_group (root
// for unset ones); without it they keep the host node's owner.
func TestDeviceOwnershipFromSecurityContext(t *testing.T) {
	dev := Device{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: 0o666, UID: 7, GID: 8}
	host := Device{Path: "/dev/loop0", Type: "b", Major: 7, Minor: 0, FileMode: 0o660, UID: 0, GID: 6}
	for _, tc := range []struct {
		desc               string
		on, privileged     bool
		user, group        *runtimeapi.Int64Value
		wantUID, wantGID   uint32
		wantHost, wantDevs int
	}{
		{desc: "off keeps the node's owner", user: &runtimeapi.Int64Value{Value: 1000}, wantUID: 7, wantGID: 8, wantDevs: 1},
		{desc: "on with user and group", on: true, user: &runtimeapi.Int64Value{Value: 1000}, group: &runtimeapi.Int64Value{Value: 2000}, wantUID: 1000, wantGID: 2000, wantDevs: 1},
		{desc: "on with user only", on: true, user: &runtimeapi.Int64Value{Value: 1000}, wantUID: 1000, wantGID: 0, wantDevs: 1},
		{desc: "on without user stays root", on: true, wantUID: 0, wantGID: 0, wantDevs: 1},
		{desc: "on, privileged host devices too", on: true, privileged: true, user: &runtimeapi.Int64Value{Value: 1000}, group: &runtimeapi.Int64Value{Value: 2000}, wantUID: 1000, wantGID: 2000, wantDevs: 2},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := baseConfig()
			sc := cfg.Linux.SecurityContext
			sc.RunAsUser, sc.RunAsGroup, sc.Privileged = tc.user, tc.group, tc.privileged
			in := testInput(cfg)
			if tc.privileged {
				in.Pod.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{Privileged: true}
				in.HostDevices = []Device{host}
			}
			in.Devices = []Device{dev}
			in.DeviceOwnershipFromSecurityContext = tc.on
			s, err := BuildContainerSpec(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Linux.Devices) != tc.wantDevs {
				t.Fatalf("devices = %+v, want %d", s.Linux.Devices, tc.wantDevs)
			}
			for _, d := range s.Linux.Devices {
				if *d.UID != tc.wantUID || *d.GID != tc.wantGID {
					t.Errorf("%s owned by %d:%d, want %d:%d", d.Path, *d.UID, *d.GID, tc.wantUID, tc.wantGID)
				}
			}
			if in.Devices[0].UID != 7 {
				t.Error("the input's devices were changed")
			}
		})
	}
}
