package kubelet

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil/podnet"
)

// busyboxImage is the image of every test container, served by the test
// image registry under its upstream name.
const busyboxImage = "registry.k8s.io/e2e-test-images/busybox:1.29-2"

// cniBinDir is where Debian's containernetworking-plugins puts the plugins.
const cniBinDir = podnet.BinDir

// proc is a process the test started, its output in a log file, stopped
// by PID (SIGTERM, then SIGKILL) when the test ends.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
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
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.stop(t, 30*time.Second) })
	return p
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits up to grace, then SIGKILL. It reports
// whether the process ended on SIGTERM (or had already ended).
func (p *proc) stop(t *testing.T, grace time.Duration) bool {
	if !p.running() {
		return true
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return true
	case <-time.After(grace):
	}
	t.Logf("%s (pid %d) ignored SIGTERM for %s; killing it", p.name, p.cmd.Process.Pid, grace)
	_ = p.cmd.Process.Kill()
	<-p.exited
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

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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

// startMirror serves the busybox test image under its registry.k8s.io name
// from a registry on 127.0.0.1 and writes hosts.toml mirrors into dir.
func startMirror(t *testing.T, dir string) {
	t.Helper()
	spec, ok := imagebuild.Lookup(busyboxImage)
	if !ok {
		t.Fatalf("%s is not in the test image catalog", busyboxImage)
	}
	m, err := imagebuild.StartMirror(context.Background(), "127.0.0.1:0", []imagebuild.Spec{spec}, imagebuild.MirrorOptions{})
	if err != nil {
		t.Fatalf("start the test image registry: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	if err := imagebuild.WriteHostsDir(dir, m.Addrs()); err != nil {
		t.Fatal(err)
	}
}

// criClient connects to cricketd's socket.
func criClient(t *testing.T, sock string) (runtimeapi.RuntimeServiceClient, runtimeapi.ImageServiceClient) {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn)
}

// waitFor polls cond every interval until it returns true or timeout
// passes; it fails the test with the last reason cond gave.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
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
		t.Skip("no cgroup v1 hierarchies mounted under /sys/fs/cgroup: this test is written for a cgroup v1 host")
	}
	return dirs
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
