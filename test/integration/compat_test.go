package integration

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// compatRejected is in the compat daemon's
// runtime.absent_mount_sources_to_reject; nothing creates it.
const compatRejected = "/run/cricket-compat-test-absent"

// compatConfig turns on the compatibility keys TestCompat covers.
const compatConfig = `[runtime]
absent_mount_sources_to_reject = ["` + compatRejected + `"]
`

// TestCompat covers what clusters expect of a runtime beyond critest, on
// every handler: missing hostPath sources are created as directories
// (unless the config rejects them); procMount Unmasked.
func TestCompat(t *testing.T) {
	d := startSecurityDaemonWith(t, compatConfig, true)
	noUserns := func(e *secEnv) string {
		if !handlerSupportsUserns(t, e.rt, e.h.handler) {
			return "the handler does not advertise user namespaces"
		}
		return ""
	}
	cases := []fieldCase{
		{desc: "missing host path is created", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/new", HostPath: filepath.Join(t.TempDir(), "a", "b")})
		}, check: func(t *testing.T, e *secEnv, id string) {
			e.mustSh(t, id, "echo from-ctr > /mnt/new/f")
			src := compatHostPath(t, e, id, "/mnt/new")
			if got := hostFile(t, filepath.Join(src, "f")); got != "from-ctr" {
				t.Errorf("host sees %q in %s", got, src)
			}
			for _, p := range []string{src, filepath.Dir(src)} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if !fi.IsDir() || fi.Mode().Perm() != 0o755 || st.Uid != 0 || st.Gid != 0 {
					t.Errorf("%s: mode %v, owner %d:%d; want a 0755 directory owned by root", p, fi.Mode(), st.Uid, st.Gid)
				}
			}
		}},
		{desc: "missing host path in absent_mount_sources_to_reject is refused", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/rejected", HostPath: compatRejected})
		}, wantCode: codes.InvalidArgument, wantErr: compatRejected},
		// The kubelet sends empty lists for procMount: Unmasked, which
		// the API allows only with hostUsers: false, and its defaults
		// otherwise.
		{desc: "procMount Unmasked", pod: podUserns, skip: noUserns, ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).MaskedPaths, sc(c).ReadonlyPaths = []string{}, []string{}
		}, check: func(t *testing.T, e *secEnv, id string) {
			// (This kernel has no /proc/kcore.)
			for _, p := range []string{"/proc/keys", "/proc/timer_list", "/proc/sys", "/proc/sysrq-trigger"} {
				if l := e.mountLine(t, id, p); l != "" {
					t.Errorf("%s is masked or read-only in an unmasked /proc: %s", p, l)
				}
			}
		}},
		{desc: "procMount Default", pod: podUserns, skip: noUserns, ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).MaskedPaths, sc(c).ReadonlyPaths = []string{"/proc/kcore", "/proc/timer_list"}, []string{"/proc/sys"}
		}, check: func(t *testing.T, e *secEnv, id string) {
			if l := e.mountLine(t, id, "/proc/timer_list"); l == "" {
				t.Error("/proc/timer_list is not masked")
			}
			if l := e.mountLine(t, id, "/proc/sys"); !hasOpt(l, "ro") {
				t.Errorf("/proc/sys is not read-only: %q", l)
			}
		}},
	}
	runFieldCases(t, d, cases)
	if _, err := os.Lstat(compatRejected); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s, in absent_mount_sources_to_reject, was created (%v)", compatRejected, err)
	}
}

// compatHostPath is the host path ContainerStatus reports for a mount.
func compatHostPath(t *testing.T, e *secEnv, id, ctrPath string) string {
	t.Helper()
	resp, err := e.rt.ContainerStatus(t.Context(), &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range resp.GetStatus().GetMounts() {
		if m.GetContainerPath() == ctrPath {
			return m.GetHostPath()
		}
	}
	t.Fatalf("container has no mount at %s", ctrPath)
	return ""
}
