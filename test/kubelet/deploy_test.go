package kubelet

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

func deployPath(t *testing.T, parts ...string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(append([]string{"..", "..", "deploy"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// unitKeys reads the [Service] section of a systemd unit file.
func unitKeys(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]string{}
	section := ""
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, _ := strings.Cut(line, "=")
			keys[k] = v
		}
	}
	return keys
}

// TestCricketdUnit checks deploy/cricketd.service: the settings a CRI
// runtime's unit needs, and `systemd-analyze verify` where it exists.
func TestCricketdUnit(t *testing.T) {
	unit := deployPath(t, "cricketd.service")
	keys := unitKeys(t, unit)
	for k, want := range map[string]string{
		"ExecStart": "/usr/local/bin/cricketd", // hack/setup.sh and the kind image install it there
		"KillMode":  "process",                 // shims (and their containers) survive a restart
		"Delegate":  "yes",                     // systemd leaves the cgroups below the unit alone
		"Restart":   "always",
	} {
		if keys[k] != want {
			t.Errorf("%s: %s=%q, want %q", unit, k, keys[k], want)
		}
	}
	if keys["LimitNOFILE"] == "" {
		t.Errorf("%s: no LimitNOFILE (a node's pods need far more than the default 1024 descriptors)", unit)
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit's keys are checked, not its syntax")
	}
	// verify wants ExecStart to exist: point it at a binary that does.
	bin := os.Getenv("CRICKETD_BIN")
	if bin == "" {
		bin = "/bin/true"
	}
	text, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "cricketd.service")
	fixed := strings.ReplaceAll(string(text), "ExecStart=/usr/local/bin/cricketd", "ExecStart="+bin)
	if err := os.WriteFile(copyPath, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}
}

// TestDeployFiles starts cricketd the way deploy/cricketd.service does,
// with deploy/cricket.toml, deploy/cni/10-cricket.conflist and
// deploy/crictl.yaml, and checks through crictl that it serves and that a
// pod gets an address on the deploy network. Host paths in the files are
// moved into a temp dir (and the bridge and subnet renamed) so that the
// test never meets a cricketd installed on the machine; everything else is
// used as shipped. It also starts cricketd with deploy/kind/cricket.toml.
func TestDeployFiles(t *testing.T) {
	testutil.RequireRoot(t)
	bin := os.Getenv("CRICKETD_BIN")
	if bin == "" {
		t.Skip("set CRICKETD_BIN (make kubelet-e2e sets it)")
	}
	if _, err := exec.LookPath("crictl"); err != nil {
		t.Fatalf("crictl is not installed (hack/deps.sh installs it): %v", err)
	}
	dir, err := os.MkdirTemp("", "kld-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if len(mountsUnder(dir)) == 0 {
			_ = os.RemoveAll(dir)
		}
	})
	netDir := filepath.Join(dir, "net.d")
	if err := os.MkdirAll(netDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bridge, subnet := "kld"+fmt.Sprint(os.Getpid()%100000), freeSubnet(t)
	writeDeployConflist(t, filepath.Join(netDir, "10-cricket.conflist"), bridge, subnet, filepath.Join(dir, "ipam"))
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", bridge).Run() })

	conf := rewrite(t, deployPath(t, "cricket.toml"), filepath.Join(dir, "cricket.toml"), map[string]string{
		`cni_conf_dir = "/etc/cni/net.d"`:               fmt.Sprintf("cni_conf_dir = %q", netDir),
		`socket_path = "/var/run/nri/nri.sock"`:         fmt.Sprintf("socket_path = %q", filepath.Join(dir, "s", "nri.sock")),
		`default_pod_subnet = "10.89.0.0/16"`:           `default_pod_subnet = ""`,
		`registry_config_path = "/etc/cricket/certs.d"`: fmt.Sprintf("registry_config_path = %q", filepath.Join(dir, "certs.d")),
	})
	sock := filepath.Join(dir, "s", "cricket.sock")
	crictlConf := rewrite(t, deployPath(t, "crictl.yaml"), filepath.Join(dir, "crictl.yaml"), map[string]string{
		"unix:///run/cricket/cricket.sock": "unix://" + sock,
	})
	marker := "CRICKET_DEPLOY_TEST=" + filepath.Base(dir)
	// The unit's command line, plus the flags that move its paths.
	keys := unitKeys(t, deployPath(t, "cricketd.service"))
	if keys["ExecStart"] != "/usr/local/bin/cricketd" {
		t.Fatalf("the unit runs %q; this test expects plain /usr/local/bin/cricketd", keys["ExecStart"])
	}
	d := deployDaemon(t, bin, dir, conf, marker)
	d.Start()
	crictl := func(args ...string) (string, error) {
		// stdout only: crictl warns on stderr (runp: "cgroup_parent is not set").
		cmd := exec.Command("crictl", append([]string{"--config", crictlConf}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(string(out)), err
	}
	testutil.Eventually(t, "cricketd to answer crictl version", time.Minute, func() error {
		if !d.Running() {
			t.Fatalf("cricketd exited:\n%s", d.Tail(30))
		}
		out, err := crictl("version")
		if err != nil {
			return err
		}
		if !regexp.MustCompile(`RuntimeName:\s+cricket\b`).MatchString(out) {
			return fmt.Errorf("no RuntimeName cricket in %q", out)
		}
		return nil
	})
	out, err := crictl("info")
	if err != nil {
		t.Fatalf("crictl info: %v\n%s", err, out)
	}
	for _, cond := range []string{"RuntimeReady", "NetworkReady"} {
		if !conditionTrue(out, cond) {
			t.Errorf("crictl info: %s is not true:\n%s", cond, out)
		}
	}

	podJSON := filepath.Join(dir, "pod.json")
	if err := os.WriteFile(podJSON, []byte(fmt.Sprintf(`{"metadata":{"name":"deploy","namespace":"default","uid":"deploy-%d","attempt":0},
"log_directory":%q,"linux":{}}`, os.Getpid(), filepath.Join(dir, "logs"))), 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := crictl("runp", podJSON)
	if err != nil {
		t.Fatalf("crictl runp on the deploy network: %v\n%s\n%s", err, id, d.Tail(20))
	}
	// Runs before the daemon is stopped (cleanups run in reverse), so a
	// failure below leaves no pod behind; removing twice is no error.
	t.Cleanup(func() {
		if d.Running() {
			_, _ = crictl("rmp", "-f", id)
		}
	})
	out, err = crictl("inspectp", "-o", "json", id)
	if err != nil {
		t.Fatalf("crictl inspectp: %v\n%s", err, out)
	}
	var st struct {
		Status struct {
			Network struct {
				IP string `json:"ip"`
			} `json:"network"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("decode inspectp: %v\n%s", err, out)
	}
	_, ipnet, _ := net.ParseCIDR(subnet)
	if ip := net.ParseIP(st.Status.Network.IP); ip == nil || !ipnet.Contains(ip) {
		t.Errorf("pod IP %q is not in the deploy network's (renamed) subnet %s", st.Status.Network.IP, subnet)
	}
	for _, args := range [][]string{{"stopp", id}, {"rmp", id}} {
		if out, err := crictl(args...); err != nil {
			t.Errorf("crictl %v: %v\n%s", args, err, out)
		}
	}
	if !d.Stop() {
		t.Error("cricketd did not stop on SIGTERM")
	}

	// The kind node's configuration loads and serves too.
	kindConf := rewrite(t, deployPath(t, "kind", "cricket.toml"), filepath.Join(dir, "kind.toml"), map[string]string{
		`cni_conf_dir = "/etc/cni/net.d"`: fmt.Sprintf("cni_conf_dir = %q", netDir),
	})
	k := deployDaemon(t, bin, dir, kindConf, marker)
	k.Start()
	testutil.Eventually(t, "cricketd with deploy/kind/cricket.toml to answer", time.Minute, func() error {
		if !k.Running() {
			t.Fatalf("cricketd exited with deploy/kind/cricket.toml:\n%s", k.Tail(30))
		}
		out, err := crictl("version")
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	})
	if !k.Stop() {
		t.Error("cricketd (kind config) did not stop on SIGTERM")
	}
	if left := leftoverProcs(marker, "kld-none"); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
	if m := mountsUnder(dir); len(m) > 0 {
		t.Errorf("mounts left under %s: %v", dir, m)
	}
}

// rewrite copies src to dst replacing each key of repl (which must occur).
func rewrite(t *testing.T, src, dst string, repl map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for from, to := range repl {
		if !strings.Contains(text, from) {
			t.Fatalf("%s no longer contains %q: update this test", src, from)
		}
		text = strings.ReplaceAll(text, from, to)
	}
	if err := os.WriteFile(dst, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// writeDeployConflist writes deploy/cni/10-cricket.conflist with its
// bridge, subnet and IPAM data dir replaced.
func writeDeployConflist(t *testing.T, dst, bridge, subnet, dataDir string) {
	t.Helper()
	b, err := os.ReadFile(deployPath(t, "cni", "10-cricket.conflist"))
	if err != nil {
		t.Fatal(err)
	}
	var conf map[string]any
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatalf("deploy/cni/10-cricket.conflist: %v", err)
	}
	plugins, _ := conf["plugins"].([]any)
	var br map[string]any
	for _, p := range plugins {
		if m, ok := p.(map[string]any); ok && m["type"] == "bridge" {
			br = m
		}
	}
	if br == nil {
		t.Fatal("deploy/cni/10-cricket.conflist has no bridge plugin")
	}
	br["bridge"] = bridge
	ipam, _ := br["ipam"].(map[string]any)
	if ipam == nil {
		t.Fatal("deploy/cni/10-cricket.conflist: the bridge has no ipam")
	}
	ipam["ranges"] = [][]map[string]string{{{"subnet": subnet}}}
	ipam["dataDir"] = dataDir
	out, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// conditionTrue reports whether crictl info's JSON lists condition typ as
// true.
func conditionTrue(info, typ string) bool {
	var v struct {
		Status struct {
			Conditions []struct {
				Type   string `json:"type"`
				Status bool   `json:"status"`
			} `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(info), &v); err != nil {
		return false
	}
	for _, c := range v.Status.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return false
}

// deployDaemon prepares a cricketd on config conf with its root, state
// and socket under dir and marker in its environment, as the unit would
// run it (no flag but the paths).
func deployDaemon(t *testing.T, bin, dir, conf, marker string) *harness.Daemon {
	d := harness.NewDaemon(t, bin, dir)
	d.State, d.Socket, d.Config = filepath.Join(dir, "s"), filepath.Join(dir, "s", "cricket.sock"), conf
	d.Env = []string{marker}
	d.OwnGroup = true
	d.StopGrace = 20 * time.Second
	return d
}
