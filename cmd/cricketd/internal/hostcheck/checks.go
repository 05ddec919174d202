package hostcheck

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/runc/libcontainer/apparmor"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/selinux/go-selinux"

	"github.com/cricket-cri/cricket/network"
	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/config"
	"github.com/cricket-cri/cricket/pkg/snapshot"
)

// Host is what the checks look at. The zero values of the paths are the
// real host's; tests point them at fakes.
type Host struct {
	// Config is the merged configuration, or ConfigErr why it is not
	// valid; ConfigFiles are the files read.
	Config      *config.Config
	ConfigErr   error
	ConfigFiles []string
	// ShimBinary is the per-pod shim found next to cricketd, or ShimErr
	// why it was not.
	ShimBinary string
	ShimErr    error
	// MountInfo is read for the cgroup layout (cgroups.DefaultMountInfo).
	MountInfo string
	// SystemdDir exists when systemd runs the host (/run/systemd/system).
	SystemdDir string
	// ProcStatus is read for the kernel's seccomp support
	// (/proc/self/status).
	ProcStatus string
	// CommandTimeout bounds each external command (criu check, a
	// runtime's features); 0 means 30 s.
	CommandTimeout time.Duration
}

func (h Host) effectiveConfig() *config.Config {
	if h.Config != nil {
		return h.Config
	}
	// The checks that follow still say what they can, on the defaults.
	return config.Default()
}

func (h Host) timeout() time.Duration {
	if h.CommandTimeout > 0 {
		return h.CommandTimeout
	}
	return 30 * time.Second
}

func (h Host) checkConfig() Result {
	const name = "config"
	if h.ConfigErr != nil {
		return fail(name, "%v\n(the checks below use the built-in defaults)", h.ConfigErr)
	}
	if len(h.ConfigFiles) == 0 {
		return ok(name, "no configuration file: built-in defaults")
	}
	return ok(name, "valid, merged from %s", strings.Join(h.ConfigFiles, ", "))
}

func (h Host) checkShim() Result {
	if h.ShimErr != nil {
		return fail("shim", "%v", h.ShimErr)
	}
	return ok("shim", "%s", h.ShimBinary)
}

func (h Host) checkCgroups(cfg *config.Config) []Result {
	mi := h.MountInfo
	if mi == "" {
		mi = cgroups.DefaultMountInfo
	}
	mounts, err := cgroups.ReadMounts(mi)
	if err != nil {
		return []Result{fail("cgroups", "read %s: %v", mi, err)}
	}
	var version Result
	switch mode := mounts.Mode(); mode {
	case cgroups.Unified:
		version = ok("cgroups", "v2 (unified)")
	case cgroups.Legacy, cgroups.Hybrid:
		version = warn("cgroups", "v1 (%s): the kubelet needs failCgroupV1: false; boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2", mode)
	default:
		return []Result{fail("cgroups", "no cgroup filesystem is mounted: mount cgroup2 on /sys/fs/cgroup")}
	}
	sd := h.SystemdDir
	if sd == "" {
		sd = "/run/systemd/system"
	}
	_, err = os.Stat(sd)
	systemd := err == nil
	driver := cfg.Runtime.CgroupDriver
	var drv Result
	switch {
	case driver == config.CgroupDriverSystemd && !systemd:
		drv = fail("cgroup driver", "runtime.cgroup_driver = \"systemd\" but systemd does not run this host: set it to \"cgroupfs\" (and the kubelet's cgroupDriver)")
	case driver == config.CgroupDriverCgroupfs && systemd:
		drv = warn("cgroup driver", "systemd runs this host but runtime.cgroup_driver = \"cgroupfs\": set \"systemd\" here and in the kubelet, so one manager owns the cgroup tree")
	default:
		drv = ok("cgroup driver", "%s, which suits this host", driver)
	}
	return []Result{version, drv}
}

func (h Host) checkCNI(cfg *config.Config) Result {
	const name = "cni"
	cni, err := network.New(network.Options{ConfDir: cfg.Network.ConfDir, BinDirs: cfg.Network.BinDirs, DefaultSubnet: cfg.Network.DefaultPodSubnet})
	if err != nil {
		return fail(name, "%v", err)
	}
	list, source, err := cni.LoadConfig()
	if err != nil {
		return fail(name, "%v: put a network configuration in network.cni_conf_dir, or set network.default_pod_subnet for the embedded one", err)
	}
	if err := cni.Status(); err != nil {
		return fail(name, "%v: install the CNI plugins (containernetworking-plugins) into one of network.cni_bin_dirs", err)
	}
	return ok(name, "network %q from %s; its plugins are in %s", list.Name, source, strings.Join(cfg.Network.BinDirs, ":"))
}

// probeDir is where mount probes run: under the root dir, on the file
// system that will hold the layers, or its nearest existing parent.
func probeDir(cfg *config.Config) string {
	dir := filepath.Join(cfg.Root, "snapshots")
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return os.TempDir()
		}
		dir = parent
	}
}

func (h Host) checkOverlay(cfg *config.Config) Result {
	dir := probeDir(cfg)
	if err := snapshot.ProbeOverlay(dir); err != nil {
		return fail("overlayfs", "an overlay mount under %s fails: %v: load the overlay module (modprobe overlay) and keep the root dir on ext4 or xfs", dir, err)
	}
	return ok("overlayfs", "mounts under %s", dir)
}

func (h Host) checkIDMapped(cfg *config.Config) Result {
	const name = "idmapped mounts"
	if h.ShimErr != nil {
		return warn(name, "not checked without the shim")
	}
	dir := probeDir(cfg)
	if err := snapshot.ProbeIDMappedOverlay(h.ShimBinary, dir); err != nil {
		return warn(name, "an idmapped overlay under %s fails: %v: pods with hostUsers: false are refused (they need Linux 6.3 or later and idmap support in the root dir's file system)", dir, err)
	}
	if err := snapshot.ProbeIDMappedTmpfs(h.ShimBinary, dir); err != nil {
		return warn(name, "idmapped overlay works under %s, but an idmapped tmpfs fails: %v: pods with hostUsers: false run, but their containers cannot mount tmpfs-backed volumes (secrets, projected service account tokens, memory-backed emptyDir; Linux 6.3 can)", dir, err)
	}
	return ok(name, "idmapped overlay and tmpfs work under %s: pods may have their own user namespace", dir)
}

func (h Host) checkSeccomp() Result {
	const name = "seccomp"
	if !seccomp.Enabled {
		return fail(name, "cricketd is built without seccomp: containers with a seccomp profile (RuntimeDefault, which Pod Security \"restricted\" requires) fail; build with -tags seccomp (make build)")
	}
	ps := h.ProcStatus
	if ps == "" {
		ps = "/proc/self/status"
	}
	f, err := os.Open(ps)
	if err != nil {
		return fail(name, "read %s: %v", ps, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Seccomp:") {
			return ok(name, "built in (libseccomp) and supported by the kernel")
		}
	}
	return fail(name, "the kernel has no seccomp (no Seccomp: line in %s): build it with CONFIG_SECCOMP_FILTER", ps)
}

func (h Host) checkAppArmor() Result {
	if apparmor.IsEnabled() {
		return ok("apparmor", "enabled")
	}
	return warn("apparmor", "not enabled on this host: pods that ask for an AppArmor profile are refused; nothing to do unless you use them")
}

func (h Host) checkSELinux() Result {
	if !selinux.GetEnabled() {
		return ok("selinux", "disabled")
	}
	mode := map[int]string{selinux.Enforcing: "enforcing", selinux.Permissive: "permissive"}[selinux.EnforceMode()]
	return ok("selinux", "enabled (%s): containers get the labels their pods ask for", mode)
}

func (h Host) checkCRIU(ctx context.Context) Result {
	const name = "criu"
	path, err := exec.LookPath("criu")
	if err != nil {
		return warn(name, "not installed: container checkpoint/restore needs it (apt-get install criu)")
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout())
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "check").CombinedOutput()
	if err != nil {
		return warn(name, "%s check fails: %s: checkpoint/restore will not work on this kernel", path, lastLine(out, err))
	}
	return ok(name, "%s check passes", path)
}

func lastLine(out []byte, err error) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	return err.Error()
}

func (h Host) checkHandlers(ctx context.Context, cfg *config.Config) []Result {
	names := make([]string, 0, len(cfg.Runtime.Handlers))
	for n := range cfg.Runtime.Handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Result
	for _, n := range names {
		out = append(out, h.checkHandler(ctx, n, cfg.Runtime.Handlers[n], n == cfg.Runtime.DefaultHandler))
	}
	return out
}

func (h Host) checkHandler(ctx context.Context, name string, hd config.Handler, isDefault bool) Result {
	label := "handler " + name
	if isDefault {
		label += " (default)"
	}
	if hd.Type == config.HandlerBuiltin {
		if h.ShimErr != nil {
			return fail(label, "built-in: runs in the shim, which is missing")
		}
		return ok(label, "built-in: runc's libcontainer inside %s", filepath.Base(h.ShimBinary))
	}
	if err := executable(hd.Path); err != nil {
		r := warn(label, "%v: pods of this RuntimeClass fail; install it or remove runtime.handlers.%s", err, name)
		if isDefault {
			r.Status = Fail
		}
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout())
	defer cancel()
	version, _ := exec.CommandContext(ctx, hd.Path, "--version").Output()
	v := strings.SplitN(strings.TrimSpace(string(version)), "\n", 2)[0]
	feats, err := runtimeFeatures(ctx, hd.Path)
	if err != nil {
		return warn(label, "%s (%s): no features command (%v): recursive read-only mounts and idmapped mounts are reported unsupported", hd.Path, v, err)
	}
	return ok(label, "%s (%s): %s", hd.Path, v, feats)
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return errors.New(path + " is not an executable file")
	}
	return nil
}

// runtimeFeatures summarises a runc-compatible binary's "features"
// answer (runtime-spec features.md).
func runtimeFeatures(ctx context.Context, path string) (string, error) {
	out, err := exec.CommandContext(ctx, path, "features").Output()
	if err != nil {
		return "", err
	}
	var f struct {
		MountOptions []string `json:"mountOptions"`
		Linux        struct {
			Seccomp struct {
				Enabled *bool `json:"enabled"`
			} `json:"seccomp"`
			MountExtensions struct {
				IDMap struct {
					Enabled *bool `json:"enabled"`
				} `json:"idmap"`
			} `json:"mountExtensions"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(out, &f); err != nil {
		return "", err
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	rro := false
	for _, o := range f.MountOptions {
		rro = rro || o == "rro"
	}
	isTrue := func(p *bool) bool { return p != nil && *p }
	return "seccomp " + yes(isTrue(f.Linux.Seccomp.Enabled)) + ", recursive read-only mounts " + yes(rro) +
		", idmapped mounts " + yes(isTrue(f.Linux.MountExtensions.IDMap.Enabled)), nil
}
