package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// restoreFixture is a fake runtime answering --version with version, on a
// host that is cgroup v2 alone or not, whose restored process is in the
// cgroup the fake pidCgroup reports.
type restoreFixture struct {
	r      *runcCLI
	state  string // the fake runtime's per-container state dir
	bundle string
	killed []int
}

func newRestoreFixture(t *testing.T, version string, unified, systemd bool, cgroupsPath, procCgroup string) *restoreFixture {
	t.Helper()
	t.Setenv("FAKE_VERSION", version)
	r, _ := newFakeCLI(t)
	f := &restoreFixture{r: r, state: os.Getenv("FAKE_DIR"), bundle: t.TempDir()}
	r.unified, r.systemd = unified, systemd
	r.pidCgroup = func(pid int) (string, error) {
		if pid != 4242 {
			t.Errorf("cgroup of pid %d read, want the restored 4242", pid)
		}
		return procCgroup, nil
	}
	r.kill = func(pid int, sig syscall.Signal) error {
		f.killed = append(f.killed, pid)
		return nil
	}
	spec := &specs.Spec{Process: &specs.Process{Args: []string{"sh"}}, Linux: &specs.Linux{CgroupsPath: cgroupsPath}}
	if err := WriteSpec(f.bundle, spec); err != nil {
		t.Fatal(err)
	}
	// The host's runc.conf, which runc no longer reads once the
	// annotation names another file: its settings must be kept.
	conf := filepath.Join(t.TempDir(), "runc.conf")
	if err := os.WriteFile(conf, []byte("tcp-close\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := runcCRIUConfig
	runcCRIUConfig = conf
	t.Cleanup(func() { runcCRIUConfig = old })
	return f
}

func (f *restoreFixture) restore() (int, error) {
	return f.r.Restore(context.Background(), "c1", f.bundle, Stdio{}, RestoreOptions{ImagePath: "/ckpt/checkpoint"})
}

// criuConf is the CRIU configuration file the fake runtime found named by
// the bundle's org.criu.config annotation when it restored ("" for none).
func (f *restoreFixture) criuConf(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.state, "criu.conf"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestRuncCLIRestoreTellsCRIUTheCgroup: on cgroup v2, runc before 1.2
// lets CRIU put the restored processes back into the checkpointed
// container's cgroup, where nothing that stops the new container finds
// them (the VM run: RemovePodSandbox "did not exit", the process
// outlived the node). The runc-CLI handler then tells CRIU the new
// container's cgroup itself, keeping what /etc/criu/runc.conf says.
func TestRuncCLIRestoreTellsCRIUTheCgroup(t *testing.T) {
	for _, tc := range []struct {
		desc, version       string
		unified, systemd    bool
		cgroupsPath, cgroup string
		want                string // the cgroup-root line; "" for no configuration file
	}{
		{desc: "runc 1.1, systemd", version: "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1", unified: true, systemd: true,
			cgroupsPath: "kubepods-pod1.slice:cricket:c1", cgroup: "/kubepods.slice/kubepods-pod1.slice/cricket-c1.scope",
			want: "cgroup-root :/kubepods.slice/kubepods-pod1.slice/cricket-c1.scope"},
		{desc: "runc 1.1, cgroupfs", version: "runc version 1.1.12", unified: true,
			cgroupsPath: "/cricket/pod1/c1", cgroup: "/cricket/pod1/c1", want: "cgroup-root :/cricket/pod1/c1"},
		{desc: "runc 1.2 tells CRIU itself", version: "runc version 1.2.6", unified: true,
			cgroupsPath: "/cricket/pod1/c1", cgroup: "/cricket/pod1/c1"},
		{desc: "crun tells CRIU itself", version: "crun version 1.19.1", unified: true,
			cgroupsPath: "/cricket/pod1/c1", cgroup: "/cricket/pod1/c1"},
		{desc: "cgroup v1: runc 1.1 tells CRIU itself", version: "runc version 1.1.5",
			cgroupsPath: "/cricket/pod1/c1"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			f := newRestoreFixture(t, tc.version, tc.unified, tc.systemd, tc.cgroupsPath, tc.cgroup)
			pid, err := f.restore()
			if err != nil || pid != 4242 {
				t.Fatalf("Restore = %d, %v", pid, err)
			}
			conf := f.criuConf(t)
			if tc.want == "" {
				if conf != "" {
					t.Fatalf("CRIU configuration %q given; the runtime tells CRIU the cgroup itself", conf)
				}
				return
			}
			if !strings.Contains(conf, "\n"+tc.want+"\n") || !strings.HasPrefix(conf, "tcp-close\n") {
				t.Fatalf("CRIU configuration:\n%s\nwant runc.conf's settings, then %q", conf, tc.want)
			}
			if len(f.killed) != 0 {
				t.Errorf("killed %v", f.killed)
			}
		})
	}
}

// TestRuncCLIRestoreOutsideItsCgroup: a restored init that is not in its
// container's cgroup could not be stopped; the restore kills it and fails
// instead, leaving no container behind.
func TestRuncCLIRestoreOutsideItsCgroup(t *testing.T) {
	f := newRestoreFixture(t, "runc version 1.2.6", true, true,
		"kubepods-pod1.slice:cricket:c1", "/kubepods.slice/kubepods-pod1.slice/cricket-old.scope")
	_, err := f.restore()
	if err == nil || !strings.Contains(err.Error(), "cricket-old.scope") {
		t.Fatalf("Restore: %v, want an error naming the cgroup the process is in", err)
	}
	if len(f.killed) != 1 || f.killed[0] != 4242 {
		t.Errorf("killed %v, want the restored init 4242", f.killed)
	}
	if _, err := os.Stat(filepath.Join(f.state, "c1")); !os.IsNotExist(err) {
		t.Errorf("the runtime still has container c1: %v", err)
	}
}

// TestRuncCLIRestoreUnknownCgroup: when Cricket cannot tell where the
// container's cgroup is, runc before 1.2 on cgroup v2 would make a
// container nothing can stop: the restore is refused before it runs.
func TestRuncCLIRestoreUnknownCgroup(t *testing.T) {
	for _, linux := range []*specs.Linux{{CgroupsPath: ""}, {CgroupsPath: "relative/c1"}, nil} {
		f := newRestoreFixture(t, "runc version 1.1.5", true, false, "", "")
		if err := WriteSpec(f.bundle, &specs.Spec{Process: &specs.Process{Args: []string{"sh"}}, Linux: linux}); err != nil {
			t.Fatal(err)
		}
		_, err := f.restore()
		if !errdefs.IsFailedPrecondition(err) {
			t.Fatalf("Restore with linux %+v: %v, want FailedPrecondition", linux, err)
		}
		if _, err := os.Stat(filepath.Join(f.state, "c1")); !os.IsNotExist(err) {
			t.Errorf("the runtime restored container c1: %v", err)
		}
	}
}

func TestOldRunc(t *testing.T) {
	for v, want := range map[string]bool{
		"runc version 1.1.5+ds1\ncommit: x": true,
		"runc version 1.0.0-rc93\n":         true,
		"runc version 1.1\n":                true,
		"runc version 1.2.0\n":              false,
		"runc version 1.10.0\n":             false,
		"runc version 1.5.2\n":              false,
		"crun version 1.1.5\n":              false,
	} {
		if got := oldRunc.MatchString(v); got != want {
			t.Errorf("oldRunc(%q) = %v", v, got)
		}
	}
}

func TestParseCgroupV2(t *testing.T) {
	for _, tc := range []struct {
		file, want string
		ok         bool
	}{
		{file: "0::/kubepods.slice/cricket-c1.scope\n", want: "/kubepods.slice/cricket-c1.scope", ok: true},
		{file: "12:pids:/x\n1:name=systemd:/y\n0::/z\n", want: "/z", ok: true},
		{file: "12:pids:/x\n", ok: false},
	} {
		got, err := parseCgroupV2([]byte(tc.file))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseCgroupV2(%q) = %q, %v", tc.file, got, err)
		}
	}
}

// TestRemoveRecreatedCgroups: crun 1.8.1 leaves the cgroups CRIU
// re-created for the checkpointed container (its own and its pod's) after
// a restore (the VM run found the container's back after its pod's
// removal). Those absent before the restore are removed after it; the
// ones that existed, and the new container's path, are not touched, and
// one still in use stays and is named.
func TestRemoveRecreatedCgroups(t *testing.T) {
	fs := t.TempDir()
	old := cgroupFS
	cgroupFS = fs
	t.Cleanup(func() { cgroupFS = old })
	ckpt := t.TempDir()
	spec := `{"ociVersion":"1.0.2","linux":{"cgroupsPath":"/cricket/pod-old/c-old"}}`
	if err := os.WriteFile(filepath.Join(ckpt, specDumpFile), []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"cricket/pod-new/c-new", "cricket/pod-other"} {
		if err := os.MkdirAll(filepath.Join(fs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	absent := absentDumpedCgroups(ckpt, false, "/cricket/pod-new/c-new")
	if want := []string{"/cricket/pod-old/c-old", "/cricket/pod-old"}; strings.Join(absent, " ") != strings.Join(want, " ") {
		t.Fatalf("absent = %v, want %v", absent, want)
	}
	// The restore (CRIU) re-creates them.
	if err := os.MkdirAll(filepath.Join(fs, "cricket/pod-old/c-old"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := removeRecreatedCgroups(absent, ""); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"cricket/pod-old"} {
		if _, err := os.Stat(filepath.Join(fs, d)); !os.IsNotExist(err) {
			t.Errorf("%s is there after the restore: %v", d, err)
		}
	}
	for _, d := range []string{"cricket", "cricket/pod-new/c-new", "cricket/pod-other"} {
		if _, err := os.Stat(filepath.Join(fs, d)); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}

	// A checkpoint of a container whose cgroup still exists (the original
	// runs on): nothing of it is absent, nothing is removed.
	spec = `{"ociVersion":"1.0.2","linux":{"cgroupsPath":"/cricket/pod-other"}}`
	if err := os.WriteFile(filepath.Join(ckpt, specDumpFile), []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	if absent := absentDumpedCgroups(ckpt, false, "/cricket/pod-new/c-new"); len(absent) != 0 {
		t.Errorf("absent = %v for existing cgroups", absent)
	}

	// One still in use (here: not empty) stays, and is named.
	if err := os.MkdirAll(filepath.Join(fs, "cricket/pod-busy/c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fs, "cricket/pod-busy/c/x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := removeRecreatedCgroups([]string{"/cricket/pod-busy/c", "/cricket/pod-busy"}, "")
	if err == nil || !strings.Contains(err.Error(), "/cricket/pod-busy/c") {
		t.Errorf("removing a cgroup in use: %v, want an error naming it", err)
	}
}
