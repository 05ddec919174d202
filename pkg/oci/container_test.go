package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
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
		Sandbox:     testSandbox(),
		Image:       ImageConfig{Entrypoint: []string{"/bin/sh"}, Cmd: []string{"-c", "sleep 1"}, Env: []string{"PATH=/bin", "IMG=1"}, WorkingDir: "/work"},
		RootfsPath:  "/var/lib/cricket/rootfs/c1",
		CgroupsPath: "/kubepods/podu/c1",
		Namespaces:  NamespacePaths{Network: "/run/cricket/sb/ns/net", IPC: "/run/cricket/sb/ns/ipc", UTS: "/run/cricket/sb/ns/uts"},
		PodFiles:    PodFiles{Hostname: "/run/cricket/sb/hostname", Hosts: "/run/cricket/sb/hosts", ResolvConf: "/run/cricket/sb/resolv.conf", Shm: "/run/cricket/sb/shm"},
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
			in.Sandbox.Linux.SecurityContext = &runtimeapi.LinuxSandboxSecurityContext{Privileged: true}
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
// TestWriteFuzzSeeds when CRICKET_WRITE_FUZZ_SEEDS=1.
func seedConfigs() []*runtimeapi.ContainerConfig {
	priv := baseConfig()
	priv.Linux.SecurityContext.Privileged = true
	mounts := baseConfig()
	mounts.Mounts = []*runtimeapi.Mount{{ContainerPath: "/d", HostPath: "/h", Readonly: true, RecursiveReadOnly: true}}
	caps := baseConfig()
	caps.Linux.SecurityContext.Capabilities = &runtimeapi.Capability{AddCapabilities: []string{"ALL"}, DropCapabilities: []string{"CHOWN"}}
	return []*runtimeapi.ContainerConfig{{}, baseConfig(), priv, mounts, caps}
}

func FuzzBuildContainerSpec(f *testing.F) {
	for _, c := range seedConfigs() {
		b, err := proto.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := &runtimeapi.ContainerConfig{}
		if err := proto.Unmarshal(data, cfg); err != nil {
			return
		}
		s, err := BuildContainerSpec(testInput(cfg))
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("error is not InvalidArgument: %v", err)
			}
			return
		}
		if err := Validate(s); err != nil {
			t.Fatalf("built an invalid spec: %v", err)
		}
	})
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
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(b)))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
