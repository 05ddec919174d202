package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
)

// Images the workloads use, served by the test registry under their
// upstream names.
const (
	busyboxImage = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
	// benchHost is the registry host of the images the run builds itself
	// (the C pause, the pull benchmark's images); hosts.toml maps it to the
	// run's registry on 127.0.0.1.
	benchHost = "bench.invalid"
	// pauseImage is containerd's sandbox image: pause/pause.c built
	// statically with gcc, as the upstream pause image is. cricketd needs
	// none (namespaces are pinned without a process).
	pauseImage = benchHost + "/pause:c"
)

// cniBinDir is where Debian's containernetworking-plugins installs them.
const cniBinDir = "/usr/lib/cni"

// env is what every runtime of a run shares: the work directory, the image
// registry and its hosts.toml mirrors, and the CNI network.
type env struct {
	Dir      string // short: unix socket paths under it must fit 108 bytes
	HostsDir string
	CNIConf  string
	Subnet   string
	Marker   string // KEY=VALUE in the environment of every daemon (shims inherit it)
	bridge   string
	chain    string
	mirror   *imagebuild.Mirror
	registry *imagebuild.Registry // the images the run builds (benchHost)
	keep     bool
	// removeAtClose are directories outside Dir a daemon of the run
	// created; removed when empty.
	removeAtClose []string
}

func newEnv(ctx context.Context, keep bool, pauseBin string) (_ *env, err error) {
	for _, bin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, bin)); err != nil {
			return nil, fmt.Errorf("CNI plugin %s missing in %s (apt-get install containernetworking-plugins)", bin, cniBinDir)
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil, fmt.Errorf("iptables is not installed (apt-get install iptables)")
	}
	dir, err := os.MkdirTemp("/tmp", "cb-")
	if err != nil {
		return nil, err
	}
	id := strings.TrimPrefix(filepath.Base(dir), "cb-")
	e := &env{
		Dir:      dir,
		HostsDir: filepath.Join(dir, "certs.d"),
		CNIConf:  filepath.Join(dir, "net.d"),
		Marker:   "CRICKET_BENCH_RUN=" + id,
		bridge:   "cb-" + id,
		chain:    "CBENCH-" + strings.ToUpper(id),
		keep:     keep,
	}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	logf("work dir %s", dir)
	start := time.Now()
	var specs []imagebuild.Spec
	for _, ref := range []string{busyboxImage} {
		s, ok := imagebuild.Lookup(ref)
		if !ok {
			return nil, fmt.Errorf("%s is not in the test/images catalog", ref)
		}
		specs = append(specs, s)
	}
	if e.mirror, err = imagebuild.StartMirror(ctx, "127.0.0.1:0", specs, imagebuild.MirrorOptions{}); err != nil {
		return nil, fmt.Errorf("start the test registry: %w", err)
	}
	if e.registry, err = imagebuild.StartRegistry("127.0.0.1:0"); err != nil {
		return nil, err
	}
	hosts := e.mirror.Addrs()
	hosts[benchHost] = e.registry.Addr
	if err := imagebuild.WriteHostsDir(e.HostsDir, hosts); err != nil {
		return nil, err
	}
	pause, err := pauseImageOf(pauseBin)
	if err != nil {
		return nil, err
	}
	if err := e.push(ctx, pauseImage, pause); err != nil {
		return nil, err
	}
	logf("test registry ready in %s: %s", time.Since(start).Round(time.Millisecond), strings.ReplaceAll(e.mirror.String(), "\n", ", "))
	if e.Subnet, err = freeSubnet(); err != nil {
		return nil, err
	}
	if err := e.writeNetwork(); err != nil {
		return nil, err
	}
	return e, nil
}

// freeSubnet picks a private /16 in 10.150-199 that no route or address of
// this host touches (other test harnesses use 10.200-249 and 10.231).
func freeSubnet() (string, error) {
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	addrs, _ := exec.Command("ip", "-4", "addr", "show").Output()
	used := string(routes) + string(addrs)
	for i := 150; i < 200; i++ {
		if !strings.Contains(used, fmt.Sprintf("10.%d.", i)) {
			return fmt.Sprintf("10.%d.0.0/16", i), nil
		}
	}
	return "", errors.New("no free 10.150-199.0.0/16 subnet for the benchmark bridge")
}

// writeNetwork writes the conflist both runtimes load (a bridge of our own,
// host-local IPAM under the work dir, no masquerade) and a firewall chain
// that keeps pod traffic on the pod subnet and the host.
func (e *env) writeNetwork() error {
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"cricket-bench","plugins":[
{"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,"hairpinMode":true,
 "ipam":{"type":"host-local","ranges":[[{"subnet":%q}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":%q}},
{"type":"portmap","capabilities":{"portMappings":true}}]}`, e.bridge, e.Subnet, filepath.Join(e.Dir, "ipam"))
	if err := os.MkdirAll(e.CNIConf, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(e.CNIConf, "10-cricket-bench.conflist"), []byte(conf), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"-N", e.chain},
		{"-A", e.chain, "-d", e.Subnet, "-j", "RETURN"},
		{"-A", e.chain, "-j", "DROP"},
		{"-I", "FORWARD", "1", "-s", e.Subnet, "-j", e.chain},
	} {
		if err := iptables(args...); err != nil {
			return err
		}
	}
	return nil
}

func iptables(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %v: %w: %s", args, err, bytes.TrimSpace(out))
	}
	return nil
}

// Close ends every process of the run still alive (found by the marker or
// by the work dir), unmounts what is left under the work dir, and removes
// the bridge, the firewall chain, the registry and the work dir.
func (e *env) Close() {
	for _, pid := range e.processes() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	unmountUnder(e.Dir)
	_ = exec.Command("ip", "link", "del", e.bridge).Run()
	_ = iptables("-D", "FORWARD", "-s", e.Subnet, "-j", e.chain)
	_ = iptables("-F", e.chain)
	_ = iptables("-X", e.chain)
	if e.mirror != nil {
		_ = e.mirror.Close()
	}
	if e.registry != nil {
		_ = e.registry.Close()
	}
	for _, d := range e.removeAtClose {
		removeEmptyDirs(d)
	}
	if e.keep {
		logf("kept %s", e.Dir)
		return
	}
	if err := os.RemoveAll(e.Dir); err != nil {
		logf("remove %s: %v", e.Dir, err)
	}
}

// processes lists the processes of this run: those carrying the marker in
// their environment (daemons and shims) and those naming the work dir on
// their command line. Never this process.
func (e *env) processes() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		p := filepath.Join("/proc", ent.Name())
		env, _ := os.ReadFile(filepath.Join(p, "environ"))
		cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		if slices.Contains(strings.Split(string(env), "\x00"), e.Marker) || bytes.Contains(cmdline, []byte(e.Dir+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeEmptyDirs removes dir and the directories below it, deepest first,
// as long as they are empty.
func removeEmptyDirs(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			removeEmptyDirs(filepath.Join(dir, e.Name()))
		}
	}
	_ = os.Remove(dir)
}

// unmountUnder unmounts every mount at or below dir, deepest first.
func unmountUnder(dir string) {
	for pass := 0; pass < 5; pass++ {
		raw, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return
		}
		var mounts []string
		for _, line := range strings.Split(string(raw), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
				mounts = append(mounts, f[4])
			}
		}
		if len(mounts) == 0 {
			return
		}
		sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
		for _, m := range mounts {
			if syscall.Unmount(m, 0) != nil {
				_ = syscall.Unmount(m, syscall.MNT_DETACH)
			}
		}
	}
}

// daemonProc is a daemon the run started: its process, log and socket.
type daemonProc struct {
	name   string
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}
}

// startDaemon starts bin with args and env (plus the run's marker), logging
// to logPath, and waits until ready returns nil.
func (e *env) startDaemon(ctx context.Context, name, bin string, args, env []string, logPath string, ready func(context.Context) error) (*daemonProc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), env...), e.Marker)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemonProc{name: name, cmd: cmd, log: f, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(d.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-d.exited:
			return nil, fmt.Errorf("%s exited at start (%v); log: %s", name, cmd.ProcessState, logPath)
		default:
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		err := ready(rctx)
		cancel()
		if err == nil {
			logf("%s (pid %d) ready", name, cmd.Process.Pid)
			return d, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			d.Stop()
			return nil, fmt.Errorf("%s did not serve within 60s: %v; log: %s", name, err, logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Pid is the daemon's process id.
func (d *daemonProc) Pid() int { return d.cmd.Process.Pid }

// Stop ends the daemon: SIGTERM, then SIGKILL after 15 s.
func (d *daemonProc) Stop() {
	select {
	case <-d.exited:
	default:
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(15 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	}
	d.log.Close()
}
