package oci

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func allowed(p *specs.LinuxSeccomp, name string) bool {
	for _, r := range p.Syscalls {
		if r.Action == specs.ActAllow && len(r.Args) == 0 && slices.Contains(r.Names, name) {
			return true
		}
	}
	return false
}

func TestDefaultSeccompProfile(t *testing.T) {
	tests := []struct {
		desc      string
		caps      []string
		arch      string
		allow     []string
		deny      []string
		wantArch  specs.Arch
		cloneRule bool
	}{
		{desc: "default caps amd64", caps: DefaultCapabilities(), arch: "amd64", allow: []string{"read", "chroot", "arch_prctl", "socket"}, deny: []string{"mount", "unshare", "reboot", "clone"}, wantArch: specs.ArchX86_64, cloneRule: true},
		{desc: "sys_admin arm64", caps: []string{"CAP_SYS_ADMIN"}, arch: "arm64", allow: []string{"mount", "clone", "clone3", "setns"}, deny: []string{"chroot", "arch_prctl"}, wantArch: specs.ArchAARCH64},
		{desc: "sys_time", caps: []string{"CAP_SYS_TIME"}, arch: "amd64", allow: []string{"settimeofday"}, deny: []string{"bpf"}, wantArch: specs.ArchX86_64, cloneRule: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			p := DefaultSeccompProfile(tc.caps, tc.arch)
			if p.DefaultAction != specs.ActErrno || *p.DefaultErrnoRet != 1 || p.Architectures[0] != tc.wantArch {
				t.Fatalf("profile header %+v", p)
			}
			for _, n := range tc.allow {
				if !allowed(p, n) {
					t.Errorf("%s not allowed", n)
				}
			}
			for _, n := range tc.deny {
				if allowed(p, n) {
					t.Errorf("%s allowed", n)
				}
			}
			hasClone := slices.ContainsFunc(p.Syscalls, func(r specs.LinuxSyscall) bool {
				return slices.Contains(r.Names, "clone") && len(r.Args) == 1 && r.Args[0].Op == specs.OpMaskedEqual
			})
			if hasClone != tc.cloneRule {
				t.Errorf("conditional clone rule = %v", hasClone)
			}
		})
	}
}

func TestWithSeccomp(t *testing.T) {
	local := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	tests := []struct {
		desc       string
		p          *runtimeapi.SecurityProfile
		deprecated string
		local      *specs.LinuxSeccomp
		want       string // "", "default", "local"
		wantErr    bool
	}{
		{desc: "none is unconfined"},
		{desc: "runtime default", p: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}, want: "default"},
		{desc: "deprecated docker/default", deprecated: "docker/default", want: "default"},
		{desc: "unconfined", p: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}},
		{desc: "localhost loaded", p: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/p.json"}, local: local, want: "local"},
		{desc: "localhost not loaded", p: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/p.json"}, wantErr: true},
		{desc: "localhost relative", p: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "p.json"}, local: local, wantErr: true},
		{desc: "unknown type", p: &runtimeapi.SecurityProfile{ProfileType: 9}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, _ := New(WithDefaults())
			err := WithSeccomp(tc.p, tc.deprecated, tc.local, "amd64")(s)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			got := ""
			switch {
			case s.Linux.Seccomp == local:
				got = "local"
			case s.Linux.Seccomp != nil:
				got = "default"
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestParseSeccompProfile(t *testing.T) {
	tests := []struct {
		desc      string
		json      string
		wantNames int
		wantArch  []specs.Arch
		wantErr   bool
	}{
		{desc: "oci", json: `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}`, wantNames: 1, wantArch: []specs.Arch{specs.ArchX86_64}},
		{desc: "docker name and archMap", json: `{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],"syscalls":[{"name":"read","action":"SCMP_ACT_ALLOW"}]}`, wantNames: 1, wantArch: []specs.Arch{specs.ArchX86_64, specs.ArchX86}},
		{desc: "no default action", json: `{"syscalls":[]}`, wantErr: true},
		{desc: "rule without names", json: `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}`, wantErr: true},
		{desc: "not json", json: `{`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := ParseSeccompProfile([]byte(tc.json), "amd64")
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || len(p.Syscalls) != tc.wantNames || !slices.Equal(p.Architectures, tc.wantArch) {
				t.Fatalf("got %+v, %v", p, err)
			}
		})
	}
}

func TestLoadSeccompProfile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "p.json")
	if err := os.WriteFile(good, []byte(`{"defaultAction":"SCMP_ACT_LOG"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc    string
		path    string
		wantErr bool
	}{
		{desc: "present", path: good},
		{desc: "missing", path: filepath.Join(dir, "nope.json"), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := LoadSeccompProfile(tc.path)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || p.DefaultAction != specs.ActLog {
				t.Fatalf("got %+v, %v", p, err)
			}
		})
	}
}

func TestSeccompLocalhostPath(t *testing.T) {
	tests := []struct {
		desc string
		sc   *runtimeapi.LinuxContainerSecurityContext
		want string
		ok   bool
	}{
		{desc: "structured", sc: &runtimeapi.LinuxContainerSecurityContext{Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/a.json"}}, want: "/a.json", ok: true},
		{desc: "deprecated", sc: &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "localhost//b.json"}, want: "/b.json", ok: true},
		{desc: "default", sc: &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "runtime/default"}},
		{desc: "nil"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, ok := SeccompLocalhostPath(tc.sc)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("got %q %v", got, ok)
			}
		})
	}
}

func TestNamespaceFlagsMatchKernel(t *testing.T) {
	want := unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
		unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP
	if namespaceFlags != want || namespaceFlags != 2114060288 || errnoEPERM != int(unix.EPERM) || errnoENOSYS != int(unix.ENOSYS) {
		t.Fatalf("flags %#x, want %#x", namespaceFlags, want)
	}
}
