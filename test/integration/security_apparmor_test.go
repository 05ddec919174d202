package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/apparmor"
)

// appArmorMissing says why this host cannot confine containers with
// AppArmor (what cricketd itself checks), or "" when it can.
func appArmorMissing() string {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	if err != nil || strings.TrimSpace(string(b)) != "Y" {
		return "AppArmor is not enabled on this host (/sys/module/apparmor/parameters/enabled is not Y)"
	}
	if _, err := apparmor.FindParser(); err != nil {
		return "AppArmor is enabled but apparmor_parser is not installed (the apparmor package)"
	}
	return ""
}

// denyTmpProfile lets a container do anything but write below /tmp.
const (
	denyTmpProfileName = "cricket-test-deny-tmp-write"
	denyTmpProfile     = `#include <tunables/global>
profile ` + denyTmpProfileName + ` flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>
  file,
  network,
  capability,
  signal,
  deny /tmp/** w,
}
`
)

// loadedProfiles lists the kernel's profiles by name.
func loadedProfiles(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("/sys/kernel/security/apparmor/profiles")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i := strings.LastIndex(l, " ("); i >= 0 {
			names[l[:i]] = true
		}
	}
	return names
}

// TestAppArmor runs containers under cricketd's default profile, a
// Localhost profile that denies writes to /tmp, and unconfined, on every
// handler. It needs a host with AppArmor (test/vm's node); the cases for a
// host without it are in TestSecurityPrivileges.
func TestAppArmor(t *testing.T) {
	if why := appArmorMissing(); why != "" {
		t.Skip(why)
	}
	parser, err := apparmor.FindParser()
	if err != nil {
		t.Fatal(err)
	}
	// cricketd leaves its default profile loaded, as containerd does; a
	// test that loaded it first unloads it again (registered first, so
	// it runs after the daemon's pods are gone).
	hadDefault := loadedProfiles(t)[apparmor.DefaultProfile]
	dir := t.TempDir()
	local := filepath.Join(dir, denyTmpProfileName)
	if err := os.WriteFile(local, []byte(denyTmpProfile), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := parser.Load(context.Background(), local); err != nil {
		t.Fatal(err)
	}
	d := startSecurityDaemon(t, "")
	defaultFile := filepath.Join(d.State, "apparmor", apparmor.DefaultProfile)
	t.Cleanup(func() {
		unload := []string{local}
		if !hadDefault {
			unload = append(unload, defaultFile)
		}
		for _, f := range unload {
			if out, err := exec.Command(parser.Path, "-R", f).CombinedOutput(); err != nil {
				t.Errorf("unload %s: %v: %s", f, err, out)
			}
		}
	})
	if !loadedProfiles(t)[apparmor.DefaultProfile] {
		t.Fatalf("cricketd started but the kernel has no %s profile", apparmor.DefaultProfile)
	}
	if _, err := os.Stat(defaultFile); !hadDefault && err != nil {
		t.Errorf("the generated profile is not under the state dir: %v", err)
	}
	checkInfoNamesProfile(t, d.Runtime())

	attr := func(want string) func(*testing.T, *secEnv, string) {
		return func(t *testing.T, e *secEnv, id string) {
			t.Helper()
			e.wantSh(t, id, "cat /proc/self/attr/current", want)
		}
	}
	aa := func(p *runtimeapi.SecurityProfile, deprecated string) func(*testing.T, *secEnv, *runtimeapi.ContainerConfig) {
		return func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).Apparmor, sc(c).ApparmorProfile = p, deprecated
		}
	}
	enforced := apparmor.DefaultProfile + " (enforce)"
	cases := []fieldCase{
		{desc: "no profile gets the default", check: func(t *testing.T, e *secEnv, id string) {
			attr(enforced)(t, e, id)
			e.mustSh(t, id, "touch /tmp/ok && echo x > /ok")
		}},
		{desc: "RuntimeDefault", ctr: aa(&runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}, ""), check: attr(enforced)},
		{desc: "deprecated runtime/default", ctr: aa(nil, "runtime/default"), check: attr(enforced)},
		{desc: "privileged runs unconfined", pod: podPrivileged, ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).Privileged = true
		}, check: attr("unconfined")},
		{desc: "Unconfined", ctr: aa(&runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}, ""), check: attr("unconfined")},
		{desc: "Localhost denies writes to tmp", ctr: aa(&runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "localhost/" + denyTmpProfileName}, ""),
			check: func(t *testing.T, e *secEnv, id string) {
				attr(denyTmpProfileName+" (enforce)")(t, e, id)
				e.wantFails(t, id, "touch /tmp/denied", "Permission denied")
				e.mustSh(t, id, "touch /allowed")
			}},
		{desc: "deprecated localhost", ctr: aa(nil, "localhost/"+denyTmpProfileName), check: func(t *testing.T, e *secEnv, id string) {
			e.wantFails(t, id, "touch /tmp/denied", "Permission denied")
		}},
		{desc: "Localhost not loaded is rejected by name", ctr: aa(&runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "localhost/cricket-test-not-loaded"}, ""),
			wantCode: codes.InvalidArgument, wantErr: `"cricket-test-not-loaded" is not loaded`},
	}
	runFieldCases(t, d, cases)
}

// checkInfoNamesProfile: crictl info (Status, verbose) names the profile.
func checkInfoNamesProfile(t *testing.T, rt runtimeapi.RuntimeServiceClient) {
	t.Helper()
	resp, err := rt.Status(context.Background(), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Security struct {
			AppArmor       bool   `json:"apparmor"`
			DefaultProfile string `json:"apparmorDefaultProfile"`
		} `json:"security"`
	}
	if err := json.Unmarshal([]byte(resp.GetInfo()["config"]), &info); err != nil {
		t.Fatalf("status info %q: %v", resp.GetInfo()["config"], err)
	}
	if !info.Security.AppArmor || info.Security.DefaultProfile != apparmor.DefaultProfile {
		t.Errorf("status info security = %+v, want AppArmor with %s", info.Security, apparmor.DefaultProfile)
	}
}

// TestAppArmorInfoWithout: on a host without AppArmor, crictl info says so
// and still names the profile RuntimeDefault would mean.
func TestAppArmorInfoWithout(t *testing.T) {
	if appArmorMissing() == "" {
		t.Skip("AppArmor is enabled on this host; TestAppArmor covers it")
	}
	d := newDaemon(t)
	if err := os.WriteFile(d.Config, []byte("[runtime]\napparmor_default_profile = \"site-default\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Start()
	resp, err := d.Runtime().Status(context.Background(), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetInfo()["config"]; !strings.Contains(got, `"security":{"apparmor":false,"apparmorDefaultProfile":"site-default"`) {
		t.Errorf("status info %s", got)
	}
	if _, err := os.Stat(filepath.Join(d.State, "apparmor")); !os.IsNotExist(err) {
		t.Errorf("a host without AppArmor got a generated profile dir: %v", err)
	}
}
