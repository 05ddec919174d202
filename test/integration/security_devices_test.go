package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// testBlockDevice is a host block device no container gets by default (an
// unbound loop device: opening and reading it is harmless).
func testBlockDevice(t *testing.T, minor int) (string, uint32, uint32) {
	t.Helper()
	p := fmt.Sprintf("/dev/loop%d", minor)
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		t.Skipf("%s is not a block device here: %v", p, err)
	}
	return p, unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev))
}

// devicesList returns the container's v1 device cgroup rules, or "" on a
// host without the devices controller.
func (e *secEnv) devicesList(t *testing.T, id string) string {
	t.Helper()
	if _, err := os.Stat("/sys/fs/cgroup/devices"); err != nil {
		return ""
	}
	return hostFile(t, filepath.Join(e.cgroupDir(t, id, "devices"), "devices.list"))
}

// TestSecurityDevices covers host devices with permissions and CDI devices
// from spec dirs on every handler.
func TestSecurityDevices(t *testing.T) {
	cdiStatic, cdiDynamic := filepath.Join(t.TempDir(), "etc-cdi"), filepath.Join(t.TempDir(), "run-cdi")
	mnt := hostDir(t)
	loop6, major6, minor6 := testBlockDevice(t, 6)
	writeFile(t, filepath.Join(cdiStatic, "cricket-test.json"), fmt.Sprintf(`{
  "cdiVersion": "0.6.0", "kind": "cricket.test/dev",
  "containerEdits": {"env": ["CDI_SPEC_WIDE=yes"]},
  "devices": [
    {"name": "loop", "containerEdits": {
      "env": ["CDI_TEST=static"],
      "deviceNodes": [{"path": "/dev/cdi-loop", "hostPath": %q, "permissions": "rw"}],
      "mounts": [{"hostPath": %q, "containerPath": "/cdi-mnt", "options": ["ro", "nosuid"]}]}},
    {"name": "overridden", "containerEdits": {"env": ["CDI_TEST=static"]}}
  ]}`, loop6, mnt))
	writeFile(t, filepath.Join(cdiDynamic, "cricket-test.yaml"), `cdiVersion: "0.6.0"
kind: cricket.test/dyn
devices:
  - name: overridden
    containerEdits:
      env: ["CDI_TEST=dynamic"]
`)
	writeFile(t, filepath.Join(cdiDynamic, "cricket-test-2.json"), `{"cdiVersion":"0.6.0","kind":"cricket.test/dev","devices":[{"name":"overridden","containerEdits":{"env":["CDI_TEST=dynamic"]}}]}`)
	d := startSecurityDaemon(t, fmt.Sprintf("[runtime]\ncdi_spec_dirs = [%q, %q]\n", cdiStatic, cdiDynamic))
	loop7, major7, minor7 := testBlockDevice(t, 7)
	device := func(perms string) func(*testing.T, *secEnv, *runtimeapi.ContainerConfig) {
		return func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Devices = append(c.Devices, &runtimeapi.Device{ContainerPath: "/dev/ctr-loop", HostPath: loop7, Permissions: perms})
		}
	}
	cdi := func(names ...string) func(*testing.T, *secEnv, *runtimeapi.ContainerConfig) {
		return func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			for _, n := range names {
				c.CDIDevices = append(c.CDIDevices, &runtimeapi.CDIDevice{Name: n})
			}
		}
	}
	wantRule := func(t *testing.T, e *secEnv, id string, rule string) {
		t.Helper()
		if l := e.devicesList(t, id); l != "" && !strings.Contains("\n"+l+"\n", "\n"+rule+"\n") {
			t.Errorf("devices.list lacks %q:\n%s", rule, l)
		}
	}
	cases := []fieldCase{
		{desc: "host device read-only", ctr: device("r"), check: func(t *testing.T, e *secEnv, id string) {
			e.mustSh(t, id, "test -b /dev/ctr-loop && cat /dev/ctr-loop >/dev/null")
			e.wantFails(t, id, ": > /dev/ctr-loop", "Operation not permitted")
			wantRule(t, e, id, fmt.Sprintf("b %d:%d r", major7, minor7))
		}},
		{desc: "host device rw", ctr: device("rw"), check: func(t *testing.T, e *secEnv, id string) {
			e.mustSh(t, id, "cat /dev/ctr-loop >/dev/null && : > /dev/ctr-loop")
			wantRule(t, e, id, fmt.Sprintf("b %d:%d rw", major7, minor7))
		}},
		{desc: "host device rwm", ctr: device("rwm"), check: func(t *testing.T, e *secEnv, id string) {
			e.mustSh(t, id, "cat /dev/ctr-loop >/dev/null && : > /dev/ctr-loop")
			wantRule(t, e, id, fmt.Sprintf("b %d:%d rwm", major7, minor7))
		}},
		{desc: "host device bad permissions are rejected", ctr: device("rwx"), wantCode: codes.InvalidArgument, wantErr: "permissions"},
		{desc: "missing host device is rejected", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Devices = append(c.Devices, &runtimeapi.Device{ContainerPath: "/dev/x", HostPath: "/dev/no-such-device", Permissions: "rw"})
		}, wantCode: codes.InvalidArgument, wantErr: "no-such-device"},
		{desc: "host path that is not a device is rejected", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Devices = append(c.Devices, &runtimeapi.Device{ContainerPath: "/dev/x", HostPath: "/etc/hostname", Permissions: "rw"})
		}, wantCode: codes.InvalidArgument, wantErr: "not a device"},
		{desc: "CDI device", ctr: cdi("cricket.test/dev=loop"), check: func(t *testing.T, e *secEnv, id string) {
			e.mustSh(t, id, "test -b /dev/cdi-loop && cat /dev/cdi-loop >/dev/null && : > /dev/cdi-loop")
			e.wantSh(t, id, "echo $CDI_TEST $CDI_SPEC_WIDE", "static yes")
			e.wantSh(t, id, "cat /cdi-mnt/f", "hello")
			e.wantFails(t, id, "touch /cdi-mnt/x", "Read-only file system")
			wantRule(t, e, id, fmt.Sprintf("b %d:%d rw", major6, minor6))
		}},
		{desc: "CDI device from a later spec dir wins", ctr: cdi("cricket.test/dev=overridden"), check: func(t *testing.T, e *secEnv, id string) {
			e.wantSh(t, id, "echo $CDI_TEST", "dynamic")
		}},
		{desc: "CDI device from a YAML spec", ctr: cdi("cricket.test/dyn=overridden"), check: func(t *testing.T, e *secEnv, id string) {
			e.wantSh(t, id, "echo $CDI_TEST", "dynamic")
		}},
		{desc: "CDI device unknown is rejected", ctr: cdi("cricket.test/dev=nope"), wantCode: codes.InvalidArgument, wantErr: "not found"},
		{desc: "CDI device unqualified is rejected", ctr: cdi("loop"), wantCode: codes.InvalidArgument, wantErr: "vendor/class=name"},
	}
	runFieldCases(t, d, cases)
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
