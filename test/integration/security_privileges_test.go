package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Capability bits as in linux/capability.h.
const (
	capChown          = 0
	capNetBindService = 10
	capNetAdmin       = 12
	capSysAdmin       = 21
)

// defaultCaps is the default set of both peers (containerd, CRI-O 1.x):
// CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP
// SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE.
const defaultCaps uint64 = 1<<0 | 1<<1 | 1<<4 | 1<<3 | 1<<27 | 1<<13 | 1<<6 | 1<<7 | 1<<31 | 1<<8 | 1<<10 | 1<<18 | 1<<5 | 1<<29

// hostBoundingSet is this test's (root's) bounding set: what ALL and
// privileged can grant at most.
func hostBoundingSet(t *testing.T) uint64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			return capMask(t, strings.TrimSpace(v))
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return 0
}

func wantCaps(field string, want func(t *testing.T) uint64) func(*testing.T, *secEnv, string) {
	return func(t *testing.T, e *secEnv, id string) {
		if got, w := capMask(t, e.procStatus(t, id, field)), want(t); got != w {
			t.Errorf("%s = %#x, want %#x", field, got, w)
		}
	}
}

func capsConst(v uint64) func(*testing.T) uint64 { return func(*testing.T) uint64 { return v } }

// seccompLocalhostProfile denies mkdir and mkdirat with EPERM and allows
// everything else.
const seccompLocalhostProfile = `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`

// TestSecurityPrivileges covers privileged, capabilities, no_new_privs,
// readonly_rootfs, masked and readonly paths, seccomp, AppArmor and SELinux
// options on every handler.
func TestSecurityPrivileges(t *testing.T) {
	d := startSecurityDaemon(t, "")
	profile := filepath.Join(d.Dir, "seccomp-no-mkdir.json")
	if err := os.WriteFile(profile, []byte(seccompLocalhostProfile), 0o600); err != nil {
		t.Fatal(err)
	}
	setCaps := func(c *runtimeapi.Capability) func(*testing.T, *secEnv, *runtimeapi.ContainerConfig) {
		return func(_ *testing.T, _ *secEnv, cfg *runtimeapi.ContainerConfig) { sc(cfg).Capabilities = c }
	}
	seccomp := func(p *runtimeapi.SecurityProfile) func(*testing.T, *secEnv, *runtimeapi.ContainerConfig) {
		return func(_ *testing.T, _ *secEnv, cfg *runtimeapi.ContainerConfig) { sc(cfg).Seccomp = p }
	}
	cases := []fieldCase{
		{desc: "default capabilities", check: wantCaps("CapEff", capsConst(defaultCaps))},
		{desc: "privileged", pod: podPrivileged, ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).Privileged = true
		}, check: checkPrivileged},
		{desc: "privileged in a non-privileged pod is rejected", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).Privileged = true
		}, wantCode: codes.InvalidArgument, wantErr: "privileged"},
		{desc: "capabilities add", ctr: setCaps(&runtimeapi.Capability{AddCapabilities: []string{"NET_ADMIN", "CAP_SYS_ADMIN"}}),
			check: wantCaps("CapEff", capsConst(defaultCaps|1<<capNetAdmin|1<<capSysAdmin))},
		{desc: "capabilities drop", ctr: setCaps(&runtimeapi.Capability{DropCapabilities: []string{"CHOWN"}}),
			check: func(t *testing.T, e *secEnv, id string) {
				wantCaps("CapEff", capsConst(defaultCaps&^(1<<capChown)))(t, e, id)
				e.wantFails(t, id, "touch /tmp/f && chown 1:1 /tmp/f", "Operation not permitted")
			}},
		{desc: "capabilities drop ALL", ctr: setCaps(&runtimeapi.Capability{DropCapabilities: []string{"ALL"}}),
			check: func(t *testing.T, e *secEnv, id string) {
				wantCaps("CapEff", capsConst(0))(t, e, id)
				wantCaps("CapBnd", capsConst(0))(t, e, id)
			}},
		{desc: "capabilities add ALL", ctr: setCaps(&runtimeapi.Capability{AddCapabilities: []string{"ALL"}}),
			check: wantCaps("CapEff", hostBoundingSet)},
		{desc: "capabilities drop ALL add one", ctr: setCaps(&runtimeapi.Capability{DropCapabilities: []string{"ALL"}, AddCapabilities: []string{"NET_BIND_SERVICE"}}),
			check: wantCaps("CapEff", capsConst(1<<capNetBindService))},
		{desc: "capabilities unknown is rejected", ctr: setCaps(&runtimeapi.Capability{AddCapabilities: []string{"CAP_NO_SUCH"}}),
			wantCode: codes.InvalidArgument, wantErr: "CAP_NO_SUCH"},
		{desc: "capabilities add_ambient for a non-root user", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).RunAsUser = &runtimeapi.Int64Value{Value: 1000}
			sc(c).Capabilities = &runtimeapi.Capability{AddAmbientCapabilities: []string{"NET_BIND_SERVICE"}}
		}, check: func(t *testing.T, e *secEnv, id string) {
			wantCaps("CapAmb", capsConst(1<<capNetBindService))(t, e, id)
			wantCaps("CapEff", capsConst(1<<capNetBindService))(t, e, id)
		}},
		{desc: "capabilities add_ambient ALL", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).RunAsUser = &runtimeapi.Int64Value{Value: 1000}
			sc(c).Capabilities = &runtimeapi.Capability{AddAmbientCapabilities: []string{"ALL"}}
		}, check: func(t *testing.T, e *secEnv, id string) {
			wantCaps("CapAmb", hostBoundingSet)(t, e, id)
			wantCaps("CapEff", hostBoundingSet)(t, e, id)
		}},
		{desc: "no_new_privs off by default", check: func(t *testing.T, e *secEnv, id string) {
			if got := e.procStatus(t, id, "NoNewPrivs"); got != "0" {
				t.Errorf("NoNewPrivs = %s, want 0", got)
			}
		}},
		{desc: "no_new_privs", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) { sc(c).NoNewPrivs = true },
			check: func(t *testing.T, e *secEnv, id string) {
				if got := e.procStatus(t, id, "NoNewPrivs"); got != "1" {
					t.Errorf("NoNewPrivs = %s, want 1", got)
				}
			}},
		{desc: "readonly_rootfs", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) { sc(c).ReadonlyRootfs = true },
			check: func(t *testing.T, e *secEnv, id string) {
				e.wantFails(t, id, "touch /rootfs-file", "Read-only file system")
				if l := e.mountLine(t, id, "/"); !hasOpt(l, "ro") {
					t.Errorf("root mount %q is not ro", l)
				}
				e.mustSh(t, id, "touch /dev/shm/ok") // the pod's shm stays writable
			}},
		{desc: "masked and readonly paths default", check: func(t *testing.T, e *secEnv, id string) {
			for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"} {
				if _, err := os.Stat(p); err != nil {
					continue // not on this kernel: nothing to mask
				}
				if e.mountLine(t, id, p) == "" {
					t.Errorf("%s is not masked", p)
				}
			}
			for _, p := range []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/irq", "/proc/fs"} {
				if l := e.mountLine(t, id, p); l != "" && !hasOpt(l, "ro") {
					t.Errorf("%s is not read-only: %s", p, l)
				} else if l == "" {
					if _, code := e.sh(t, id, "test -e "+p); code == 0 {
						t.Errorf("%s exists and is not a read-only mount", p)
					}
				}
			}
			e.wantFails(t, id, "echo 1 > /proc/sys/vm/drop_caches", "Read-only file system")
			if l := e.mountLine(t, id, "/sys"); !hasOpt(l, "ro") {
				t.Errorf("/sys of an unprivileged container is not ro: %s", l)
			}
		}},
		{desc: "masked and readonly paths explicit", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).MaskedPaths = []string{"/proc/cpuinfo", "/etc/masked-dir"}
			sc(c).ReadonlyPaths = []string{"/tmp"}
		}, check: func(t *testing.T, e *secEnv, id string) {
			e.wantSh(t, id, "wc -c < /proc/cpuinfo", "0")
			e.wantFails(t, id, "touch /tmp/x", "Read-only file system")
			if e.mountLine(t, id, "/proc/keys") != "" {
				t.Error("/proc/keys is still masked although explicit masked paths replace the defaults")
			}
		}},
		{desc: "masked path relative is rejected", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).MaskedPaths = []string{"proc/kcore"}
		}, wantCode: codes.InvalidArgument, wantErr: "absolute"},
		{desc: "seccomp RuntimeDefault", ctr: seccomp(&runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}),
			check: func(t *testing.T, e *secEnv, id string) {
				if got := e.procStatus(t, id, "Seccomp"); got != "2" {
					t.Errorf("Seccomp = %s, want 2 (filter)", got)
				}
				// unshare(CLONE_NEWUSER) needs no capability; only the
				// profile stops it.
				e.wantFails(t, id, "unshare -U true", "Operation not permitted")
			}},
		{desc: "seccomp Unconfined", ctr: seccomp(&runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}),
			check: func(t *testing.T, e *secEnv, id string) {
				if got := e.procStatus(t, id, "Seccomp"); got != "0" {
					t.Errorf("Seccomp = %s, want 0", got)
				}
				e.mustSh(t, id, "unshare -U true")
			}},
		{desc: "seccomp Localhost", ctr: seccomp(&runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: profile}),
			check: func(t *testing.T, e *secEnv, id string) {
				if got := e.procStatus(t, id, "Seccomp"); got != "2" {
					t.Errorf("Seccomp = %s, want 2 (filter)", got)
				}
				e.wantFails(t, id, "mkdir /tmp/denied", "Operation not permitted")
				e.mustSh(t, id, "unshare -U true") // the rest is allowed
			}},
		{desc: "seccomp Localhost missing file is rejected", ctr: seccomp(&runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: profile + ".missing"}),
			wantCode: codes.InvalidArgument, wantErr: "missing"},
		{desc: "apparmor RuntimeDefault without AppArmor", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).Apparmor = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
		}, skip: skipWithAppArmor, check: func(t *testing.T, e *secEnv, id string) {
			// Without AppArmor RuntimeDefault means no profile: the bundle
			// asks for none (a profile would fail the start).
			if p := e.bundleSpec(t, id).Process.ApparmorProfile; p != "" {
				t.Errorf("process.apparmorProfile = %q on a host without AppArmor", p)
			}
		}},
		{desc: "apparmor Localhost profile without AppArmor is rejected", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).Apparmor = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "cricket-test"}
		}, skip: skipWithAppArmor, wantCode: codes.InvalidArgument, wantErr: "apparmor is not enabled"},
		{desc: "selinux options accepted and ignored", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).SelinuxOptions = &runtimeapi.SELinuxOption{User: "system_u", Role: "system_r", Type: "container_t", Level: "s0:c1,c2"}
		}, skip: skipWithSELinux, check: func(t *testing.T, e *secEnv, id string) {
			// Without SELinux the options are ignored: no process or mount
			// label reaches the runtime.
			spec := e.bundleSpec(t, id)
			if l := spec.Process.SelinuxLabel; l != "" {
				t.Errorf("process.selinuxLabel = %q on a host without SELinux", l)
			}
			if spec.Linux != nil && spec.Linux.MountLabel != "" {
				t.Errorf("linux.mountLabel = %q on a host without SELinux", spec.Linux.MountLabel)
			}
		}},
	}
	runFieldCases(t, d, cases)
}

// checkPrivileged: all capabilities, host devices, nothing masked, /sys
// writable, no seccomp filter.
func checkPrivileged(t *testing.T, e *secEnv, id string) {
	wantCaps("CapEff", hostBoundingSet)(t, e, id)
	if got := e.procStatus(t, id, "Seccomp"); got != "0" {
		t.Errorf("Seccomp = %s, want 0", got)
	}
	if e.mountLine(t, id, "/proc/keys") != "" {
		t.Error("/proc/keys is masked in a privileged container")
	}
	if l := e.mountLine(t, id, "/sys"); !hasOpt(l, "rw") {
		t.Errorf("/sys is not writable: %s", l)
	}
	// A host device that an unprivileged container does not get.
	var st unix.Stat_t
	if err := unix.Stat("/dev/kmsg", &st); err == nil {
		e.mustSh(t, id, "test -c /dev/kmsg")
		e.mustSh(t, id, "head -c 1 /dev/kmsg >/dev/null")
	}
}

func skipWithAppArmor(*secEnv) string {
	if b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled"); err == nil && strings.TrimSpace(string(b)) == "Y" {
		return "AppArmor is enabled on this host; the case is for hosts without it"
	}
	return ""
}

func skipWithSELinux(*secEnv) string {
	if _, err := os.Stat("/sys/fs/selinux/enforce"); err == nil {
		return "SELinux is enabled on this host; the case is for hosts without it"
	}
	return ""
}
