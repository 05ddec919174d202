package hostcheck

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/config"
)

const (
	mountsV2     = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw\n"
	mountsHybrid = "30 23 0:26 / /sys/fs/cgroup/unified rw shared:4 - cgroup2 cgroup2 rw\n" +
		"31 23 0:27 / /sys/fs/cgroup/memory rw shared:5 - cgroup cgroup rw,memory\n"
	mountsNone = "22 1 0:21 / /proc rw - proc proc rw\n"
)

func TestCheckCgroups(t *testing.T) {
	cases := []struct {
		desc                  string
		mounts                string
		systemd               bool
		driver                string
		version, driverStatus Status
	}{
		{desc: "v2, cgroupfs without systemd", mounts: mountsV2, driver: "cgroupfs", version: OK, driverStatus: OK},
		{desc: "v2, systemd with systemd", mounts: mountsV2, systemd: true, driver: "systemd", version: OK, driverStatus: OK},
		{desc: "systemd driver without systemd", mounts: mountsV2, driver: "systemd", version: OK, driverStatus: Fail},
		{desc: "cgroupfs driver under systemd", mounts: mountsV2, systemd: true, driver: "cgroupfs", version: OK, driverStatus: Warn},
		{desc: "hybrid v1", mounts: mountsHybrid, driver: "cgroupfs", version: Warn, driverStatus: OK},
		{desc: "no cgroups", mounts: mountsNone, driver: "cgroupfs", version: Fail, driverStatus: -1},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			mi := filepath.Join(dir, "mountinfo")
			if err := os.WriteFile(mi, []byte(tc.mounts), 0o644); err != nil {
				t.Fatal(err)
			}
			sd := filepath.Join(dir, "systemd")
			if tc.systemd {
				if err := os.Mkdir(sd, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cfg := config.Default()
			cfg.Runtime.CgroupDriver = tc.driver
			got := Host{MountInfo: mi, SystemdDir: sd}.checkCgroups(cfg)
			if got[0].Status != tc.version {
				t.Errorf("version: %v %q, want %v", got[0].Status, got[0].Msg, tc.version)
			}
			if tc.driverStatus >= 0 && (len(got) < 2 || got[1].Status != tc.driverStatus) {
				t.Errorf("driver: %+v, want %v", got, tc.driverStatus)
			}
		})
	}
}

func TestCheckConfigAndShim(t *testing.T) {
	h := Host{ConfigErr: errors.New("bogus: unknown key"), ShimErr: errors.New("no cricket-shim")}
	if r := h.checkConfig(); r.Status != Fail || !strings.Contains(r.Msg, "bogus") {
		t.Errorf("bad config: %+v", r)
	}
	if r := h.checkShim(); r.Status != Fail {
		t.Errorf("missing shim: %+v", r)
	}
	cfg := config.Default()
	if r := h.checkHandler(t.Context(), "cricket", cfg.Runtime.Handlers["cricket"], true); r.Status != Fail {
		t.Errorf("built-in handler without a shim: %+v", r)
	}
	missing := config.Handler{Type: config.HandlerRuncCLI, Path: "/nonexistent/runc"}
	if r := h.checkHandler(t.Context(), "kata", missing, false); r.Status != Warn {
		t.Errorf("missing binary of another handler: %+v", r)
	}
	if r := h.checkHandler(t.Context(), "kata", missing, true); r.Status != Fail {
		t.Errorf("missing binary of the default handler: %+v", r)
	}
}

func TestCheckSeccompKernel(t *testing.T) {
	dir := t.TempDir()
	without := filepath.Join(dir, "status")
	if err := os.WriteFile(without, []byte("Name:\tx\nNoNewPrivs:\t0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := Host{ProcStatus: without}.checkSeccomp()
	if r.Status != Fail {
		t.Errorf("no seccomp in the kernel (or not built in): %+v", r)
	}
}

func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	failed := Write(&buf, []Result{ok("a", "fine"), warn("b", "meh"), fail("c", "two\nlines")})
	want := "OK    a: fine\nWARN  b: meh\nFAIL  c: two\n      lines\n"
	if buf.String() != want || !failed {
		t.Errorf("Write = %q (failed %v), want %q", buf.String(), failed, want)
	}
	buf.Reset()
	if Write(&buf, []Result{ok("a", "fine"), warn("b", "meh")}) {
		t.Error("warnings are not failures")
	}
}
