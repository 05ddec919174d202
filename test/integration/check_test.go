package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/test/testutil"
)

// checkLines runs `cricketd check` with args and returns its exit code
// and its lines by check name ("OK    shim: ..." under "shim").
func checkLines(t *testing.T, args ...string) (int, map[string]string, string) {
	t.Helper()
	code, out := runDaemonOnce(t, 2*time.Minute, append([]string{"check"}, args...)...)
	lines := map[string]string{}
	re := regexp.MustCompile(`^(OK|WARN|FAIL) +([^:]+): `)
	for _, l := range strings.Split(out, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			lines[m[2]] = l
		}
	}
	return code, lines, out
}

// `cricketd check` on this host: one line per check, with the outcome
// this host must give, and an exit code that says whether any failed.
func TestCheckOnThisHost(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cricket.toml")
	// Top-level keys first: keys after a table header belong to the table.
	writeConfig(t, cfg, fmt.Sprintf("root = %q\nstate = %q\n", filepath.Join(dir, "root"), filepath.Join(dir, "state"))+handlerConfig(t))
	code, lines, out := checkLines(t, "--config", cfg)
	want := map[string]string{
		"config":                    "OK",
		"shim":                      "OK",
		"cgroup driver":             "OK",
		"overlayfs":                 "OK",
		"seccomp":                   "OK",
		"handler cricket (default)": "OK",
		"cgroups":                   "OK",
		"apparmor":                  "WARN",
		"selinux":                   "OK",
	}
	if hybridCgroups() {
		want["cgroups"] = "WARN"
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		want["cgroup driver"] = "WARN" // the default cgroupfs driver under systemd
	}
	if b, _ := os.ReadFile("/sys/module/apparmor/parameters/enabled"); strings.TrimSpace(string(b)) == "Y" {
		want["apparmor"] = "OK"
	}
	for name, status := range want {
		if !strings.HasPrefix(lines[name], status+" ") {
			t.Errorf("check %q: got %q, want %s", name, lines[name], status)
		}
	}
	for _, name := range []string{"cni", "idmapped mounts", "criu", "handler runc", "handler crun"} {
		if lines[name] == "" {
			t.Errorf("no line for %q", name)
		}
	}
	failed := strings.Contains(out, "\nFAIL ") || strings.HasPrefix(out, "FAIL ")
	if (code != 0) != failed {
		t.Errorf("exit code %d with failed checks %v:\n%s", code, failed, out)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "root")); len(entries) > 0 {
		t.Errorf("the probes left %d entries behind in the root dir", len(entries))
	}
	t.Logf("cricketd check:\n%s", out)
}

// A bad drop-in and a driver the host cannot have are failures, named
// with their file and key, and the exit code says so.
func TestCheckFailures(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cricket.toml")
	writeConfig(t, cfg, fmt.Sprintf("root = %q\n", filepath.Join(dir, "root")))
	bad := filepath.Join(dir, "cricket.d", "10-bad.toml")
	writeConfig(t, bad, "bogus = 1\n")
	code, lines, out := checkLines(t, "--config", cfg)
	if code == 0 || !strings.HasPrefix(lines["config"], "FAIL ") || !strings.Contains(out, bad+": bogus: unknown key") {
		t.Errorf("a bad drop-in: exit %d\n%s", code, out)
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		return // systemd runs this host: the systemd driver suits it
	}
	writeConfig(t, bad, "[runtime]\ncgroup_driver = \"systemd\"\n")
	code, lines, out = checkLines(t, "--config", cfg)
	if code == 0 || !strings.HasPrefix(lines["cgroup driver"], "FAIL ") {
		t.Errorf("the systemd driver without systemd: exit %d\n%s", code, out)
	}
}
