package kubelet

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/test/testutil/harness"
	"github.com/cricket-cri/cricket/test/testutil/podnet"
)

// busyboxImage is the image of every test container, served by the test
// image registry under its upstream name.
const busyboxImage = "registry.k8s.io/e2e-test-images/busybox:1.29-2"

// proc is a process the test started, its output in a log file, stopped
// by PID (SIGTERM, then SIGKILL) when the test ends.
type proc struct {
	*harness.Proc
	name string
	log  string
}

func startProc(t *testing.T, name, logPath string, env []string, argv ...string) *proc {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// Its own process group: a ^C to `make` reaches the test, which then
	// stops everything in order, instead of killing the daemon first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	hp, err := harness.StartProc(cmd)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{Proc: hp, name: name, log: logPath}
	t.Cleanup(func() { p.stop(t, 30*time.Second) })
	return p
}

// stop sends SIGTERM and waits up to grace, then SIGKILL. It reports
// whether the process ended on SIGTERM (or had already ended).
func (p *proc) stop(t *testing.T, grace time.Duration) bool {
	if p.Stop(grace) {
		return true
	}
	t.Logf("%s (pid %d) ignored SIGTERM for %s; killed it", p.name, p.Pid(), grace)
	return false
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// podNet is the test's private CNI network (test/testutil/podnet): its own
// bridge and a /24 that no route on the host uses, host-local IPAM under the
// work dir, portmap for hostPorts, and a FORWARD chain that keeps pod
// traffic on the subnet and the host.
type podNet struct{ *podnet.Network }

func newPodNet(t *testing.T, dir, id string) *podNet {
	t.Helper()
	if err := podnet.Missing(); err != nil {
		t.Fatal(err) // hack/deps.sh installs them: missing is a broken set-up
	}
	return &podNet{podnet.New(t, dir, "kle-"+id, "kle"+id, "KLE-"+strings.ToUpper(id), freeSubnet(t))}
}

// freeSubnet picks a 10.232.N.0/24 that no address or route on the host
// mentions (other tests use 10.231/16 and 10.200-249/16 subnets).
func freeSubnet(t *testing.T) string {
	t.Helper()
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").CombinedOutput()
	addrs, _ := exec.Command("ip", "-4", "addr", "show").CombinedOutput()
	all := string(routes) + string(addrs)
	start := os.Getpid() % 250
	for i := range 250 {
		n := (start+i)%250 + 1
		if !strings.Contains(all, fmt.Sprintf("10.232.%d.", n)) {
			return fmt.Sprintf("10.232.%d.0/24", n)
		}
	}
	t.Fatal("no free 10.232.N.0/24 subnet")
	return ""
}

// v1Controllers lists the mounted cgroup v1 hierarchies (directories under
// /sys/fs/cgroup), plus the unified one on a hybrid host.
func v1Controllers(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dirs []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		i := slices.Index(fields, "-")
		if i < 0 || i+1 >= len(fields) {
			continue
		}
		if fs := fields[i+1]; (fs == "cgroup" || fs == "cgroup2") && strings.HasPrefix(fields[4], "/sys/fs/cgroup/") {
			dirs = append(dirs, fields[4])
		}
	}
	if len(dirs) == 0 {
		if cgroupV2() {
			return []string{"/sys/fs/cgroup"}
		}
		t.Fatal("no cgroup filesystem mounted at or under /sys/fs/cgroup")
	}
	return dirs
}

// cgroupV2 reports whether the host is cgroup v2 unified.
func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// systemdDriver reports whether the run uses the systemd cgroup driver:
// $KUBELET_CGROUP_DRIVER=systemd, which needs systemd as PID 1 and cgroup v2.
func systemdDriver(t *testing.T) bool {
	t.Helper()
	switch d := os.Getenv("KUBELET_CGROUP_DRIVER"); d {
	case "", "cgroupfs":
		return false
	case "systemd":
		if _, err := os.Stat("/run/systemd/system"); err != nil || !cgroupV2() {
			t.Fatal("KUBELET_CGROUP_DRIVER=systemd needs systemd as PID 1 on a cgroup v2 host (test/vm)")
		}
		return true
	default:
		t.Fatalf("KUBELET_CGROUP_DRIVER=%q: want cgroupfs or systemd", d)
		return false
	}
}

// probeTimeout is every probe's timeoutSeconds in the static pods:
// $KUBELET_E2E_PROBE_TIMEOUT, default 1 (the Kubernetes default). A slow
// node sets more (test/vm under TCG, where an exec probe's runc exec
// alone takes more than a second); the probes check the same things, and
// the one that must fail (crash's liveness, a missing file) still fails.
func probeTimeout(t *testing.T) int {
	t.Helper()
	v := os.Getenv("KUBELET_E2E_PROBE_TIMEOUT")
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("KUBELET_E2E_PROBE_TIMEOUT=%q: want a number of seconds, at least 1", v)
	}
	return n
}

// stopKubepodsSlice stops the slices the kubelet made with the systemd
// driver, after the leak checks have looked at them: systemd removes
// their cgroups (and would kill what a leak left in them).
func stopKubepodsSlice(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("systemctl", "stop", "kubepods.slice").CombinedOutput(); err != nil {
		t.Errorf("systemctl stop kubepods.slice: %v: %s", err, out)
	}
}

// createCgroupRoot creates the kubelet's cgroupRoot in every hierarchy
// (the kubelet refuses a cgroupRoot that does not exist); cpuset needs
// its cpus and mems copied from the parent before tasks can join.
func createCgroupRoot(t *testing.T, name string) {
	t.Helper()
	for _, h := range v1Controllers(t) {
		dir := filepath.Join(h, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("create cgroup %s: %v", dir, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v, err := os.ReadFile(filepath.Join(h, f)); err == nil {
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					t.Fatalf("copy %s into %s: %v", f, dir, err)
				}
			}
		}
	}
}

// cgroupsUnder lists every cgroup directory below name, in all hierarchies,
// deepest first.
func cgroupsUnder(t *testing.T, name string) []string {
	t.Helper()
	var dirs []string
	for _, h := range v1Controllers(t) {
		_ = filepath.WalkDir(filepath.Join(h, name), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return dirs
}

// removeCgroups removes every cgroup below and including name; it returns
// those that could not be removed (still holding tasks).
func removeCgroups(t *testing.T, name string) []string {
	t.Helper()
	var left []string
	for _, d := range cgroupsUnder(t, name) {
		var err error
		for range 20 {
			if err = syscall.Rmdir(d); err == nil || os.IsNotExist(err) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil && !os.IsNotExist(err) {
			left = append(left, fmt.Sprintf("%s (%v)", d, err))
		}
	}
	return left
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// leftoverProcs lists the processes that belong to the run: those with
// its environment marker (cricketd, its shims, the kubelet) and those in a
// cgroup below its cgroupRoot (the pods' containers).
func leftoverProcs(marker, cgroupRoot string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		cg, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if slices.Contains(strings.Split(string(env), "\x00"), marker) || bytes.Contains(cg, []byte("/"+cgroupRoot+"/")) {
			comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
			out = append(out, fmt.Sprintf("%d(%s)", pid, strings.TrimSpace(string(comm))))
		}
	}
	return out
}
