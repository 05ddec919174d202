package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/internal/ctrdconfig"
)

// target is one runtime under test, as the workloads see it.
type target struct {
	Name       string // column title: "cricket", "cricket-runc", "containerd"
	Handler    string // RuntimeHandler of every pod ("" for the default)
	Socket     string // the CRI socket
	RT         runtimeapi.RuntimeServiceClient
	IS         runtimeapi.ImageServiceClient
	MetricsURL string // Cricket's Prometheus endpoint; "" when there is none
	DaemonPID  int
	// NeedsSandboxImage is set for runtimes that run a pause container.
	NeedsSandboxImage bool
	marker            string // in the environment of the daemon and its shims only
}

// daemonMarker marks one daemon of the run and the shims it starts, so
// that the shims of one runtime are told from those of another.
func daemonMarker(name string) string { return "CRICKET_BENCH_DAEMON=" + name }

func dial(socket string) (*grpc.ClientConn, error) {
	return grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
}

func versionReady(rt runtimeapi.RuntimeServiceClient) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := rt.Version(ctx, &runtimeapi.VersionRequest{})
		return err
	}
}

// cricketDaemon is a running cricketd with its built-in and runc handlers.
type cricketDaemon struct {
	*daemonProc
	conn    *grpc.ClientConn
	socket  string
	metrics string
	marker  string
}

func (e *env) startCricketd(ctx context.Context, bin, runc string) (*cricketDaemon, error) {
	dir := filepath.Join(e.Dir, "cricket")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	metrics := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := fmt.Sprintf("[metrics]\naddress = %q\npprof = true\n\n[network]\ncni_conf_dir = %q\ncni_bin_dirs = [%q]\ndefault_pod_subnet = \"\"\n\n[runtime.handlers.runc]\ntype = \"runc\"\npath = %q\n",
		metrics, e.CNIConf, cniBinDir, runc)
	cfgPath := filepath.Join(dir, "cricket.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	socket := filepath.Join(dir, "state", "cricket.sock")
	conn, err := dial(socket)
	if err != nil {
		return nil, err
	}
	args := []string{"--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"), "--listen", socket,
		"--config", cfgPath, "--registry-config-path", e.HostsDir}
	d, err := e.startDaemon(ctx, "cricketd", bin, args, []string{daemonMarker("cricketd")}, filepath.Join(dir, "cricketd.log"), versionReady(runtimeapi.NewRuntimeServiceClient(conn)))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &cricketDaemon{daemonProc: d, conn: conn, socket: socket, metrics: "http://" + metrics + "/metrics", marker: daemonMarker("cricketd")}, nil
}

// target returns the daemon seen through one of its handlers.
func (c *cricketDaemon) target(handler string) *target {
	t := &target{Name: "cricket", Socket: c.socket, RT: runtimeapi.NewRuntimeServiceClient(c.conn), IS: runtimeapi.NewImageServiceClient(c.conn),
		MetricsURL: c.metrics, DaemonPID: c.Pid(), marker: c.marker}
	if handler != "cricket" {
		t.Name, t.Handler = "cricket-"+handler, handler
	}
	return t
}

// Stop removes every pod, then stops the daemon.
func (c *cricketDaemon) Stop() {
	removeAll(context.Background(), runtimeapi.NewRuntimeServiceClient(c.conn))
	c.conn.Close()
	c.daemonProc.Stop()
}

// removeAll removes every pod the runtime lists (cleanup after a failed
// workload).
func removeAll(ctx context.Context, rt runtimeapi.RuntimeServiceClient) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pods, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, p := range pods.Items {
		_, _ = rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.Id})
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			logf("clean up pod %s: %v", p.Id, err)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// containerdInstall is a containerd build in the cache.
type containerdInstall struct {
	Version string
	BinDir  string // containerd, containerd-shim-runc-v2 and ctr
	Runc    string
}

// installContainerd builds containerd and its runc shim from the Go module
// proxy into cache (once per version and Go version); containerd runs the
// given runc.
func installContainerd(ctx context.Context, cache, version, runc string) (*containerdInstall, error) {
	goVer, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOVERSION: %w", err)
	}
	inst := &containerdInstall{Version: version, Runc: runc,
		BinDir: filepath.Join(cache, "containerd-"+version+"-"+strings.TrimSpace(string(goVer)), "bin")}
	bins := []string{"containerd", "containerd-shim-runc-v2", "ctr"}
	missing := false
	for _, b := range bins {
		missing = missing || !fileExists(filepath.Join(inst.BinDir, b))
	}
	if !missing {
		return inst, nil
	}
	logf("building containerd %s into %s (once; takes minutes)", version, inst.BinDir)
	start := time.Now()
	tmp := inst.BinDir + ".tmp"
	_ = os.RemoveAll(tmp)
	mod := "github.com/containerd/containerd/v2/cmd/"
	args := []string{"install"}
	for _, b := range bins {
		args = append(args, mod+b+"@"+version)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-tags=no_btrfs", "GOWORK=off", "CGO_ENABLED=1")
	cmd.Dir = os.TempDir()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go install containerd %s: %w", version, err)
	}
	_ = os.RemoveAll(inst.BinDir)
	if err := os.Rename(tmp, inst.BinDir); err != nil {
		return nil, err
	}
	logf("built containerd in %s", time.Since(start).Round(time.Second))
	return inst, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// containerdRunDir is containerd's built-in state dir.
const containerdRunDir = "/run/containerd"

// containerdDaemon is a running containerd with its CRI plugin.
type containerdDaemon struct {
	*daemonProc
	conn   *grpc.ClientConn
	socket string
	marker string
}

func (e *env) startContainerd(ctx context.Context, inst *containerdInstall) (*containerdDaemon, error) {
	dir := filepath.Join(e.Dir, "ctrd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// containerd's shims put their sockets in /run/containerd/s whatever
	// the config says; remove what this run creates there.
	if !fileExists(containerdRunDir) {
		e.removeAtClose = append(e.removeAtClose, containerdRunDir)
	}
	socket := filepath.Join(dir, "state", "c.sock")
	// Its own root, state, sockets, opt and runc root; the CRI plugin on
	// the benchmark's network and mirrors; runc through the runc v2 shim.
	restrict, err := ctrdconfig.HostRestrictOOMScoreAdj()
	if err != nil {
		return nil, err
	}
	cfg, err := ctrdconfig.Config{
		Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state"),
		Address: socket, TTRPCAddress: socket + ".ttrpc", OptPath: filepath.Join(dir, "opt"),
		SandboxImage: pauseImage, RegistryConfigPath: e.HostsDir,
		CNIBinDirs: []string{cniBinDir}, CNIConfDir: e.CNIConf,
		RuncBinary: inst.Runc, RuncRoot: filepath.Join(dir, "runc"),
		RestrictOOMScoreAdj: restrict,
	}.Text()
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	conn, err := dial(socket)
	if err != nil {
		return nil, err
	}
	// The shim is found on PATH.
	path := "PATH=" + inst.BinDir + ":" + os.Getenv("PATH")
	d, err := e.startDaemon(ctx, "containerd "+inst.Version, filepath.Join(inst.BinDir, "containerd"), []string{"--config", cfgPath},
		[]string{path, daemonMarker("containerd")}, filepath.Join(dir, "containerd.log"), versionReady(runtimeapi.NewRuntimeServiceClient(conn)))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &containerdDaemon{daemonProc: d, conn: conn, socket: socket, marker: daemonMarker("containerd")}, nil
}

func (c *containerdDaemon) target() *target {
	return &target{Name: "containerd", Socket: c.socket, RT: runtimeapi.NewRuntimeServiceClient(c.conn), IS: runtimeapi.NewImageServiceClient(c.conn),
		DaemonPID: c.Pid(), NeedsSandboxImage: true, marker: c.marker}
}

// Stop removes every pod, then stops the daemon.
func (c *containerdDaemon) Stop() {
	removeAll(context.Background(), runtimeapi.NewRuntimeServiceClient(c.conn))
	c.conn.Close()
	c.daemonProc.Stop()
}
