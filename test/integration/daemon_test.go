package integration

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/config"
	"github.com/cricket-cri/cricket/pkg/store"
)

func TestCrictlVersionAndInfo(t *testing.T) {
	d := startDaemon(t)
	out, err := d.Crictl("version")
	if err != nil {
		t.Fatalf("crictl version: %v\n%s", err, out)
	}
	if !strings.Contains(out, "RuntimeName:  cricket") || !strings.Contains(out, "RuntimeApiVersion:  v1") {
		t.Errorf("crictl version:\n%s", out)
	}
	out, err = d.Crictl("info")
	if err != nil {
		t.Fatalf("crictl info: %v\n%s", err, out)
	}
	for _, want := range []string{`"RuntimeReady"`, `"NetworkReady"`} {
		if !strings.Contains(out, want) {
			t.Errorf("crictl info lacks %s:\n%s", want, out)
		}
	}
}

func TestNetworkReadyCondition(t *testing.T) {
	cases := []struct {
		desc       string
		config     string
		wantReady  bool
		wantReason string
	}{
		{desc: "embedded default network", config: "[network]\ncni_conf_dir = \"/nonexistent/net.d\"\n", wantReady: true},
		{desc: "no config and no default", config: "[network]\ncni_conf_dir = \"/nonexistent/net.d\"\ndefault_pod_subnet = \"\"\n", wantReason: "NetworkPluginNotReady"},
		{desc: "plugins missing", config: "[network]\ncni_conf_dir = \"/nonexistent/net.d\"\ncni_bin_dirs = [\"/nonexistent/bin\"]\n", wantReason: "NetworkPluginNotReady"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			d := newDaemon(t)
			if err := os.WriteFile(d.Config, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			d.Start()
			resp, err := d.Runtime().Status(context.Background(), &runtimeapi.StatusRequest{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range resp.Status.Conditions {
				if c.Type != runtimeapi.NetworkReady {
					continue
				}
				if c.Status != tc.wantReady || c.Reason != tc.wantReason || (!c.Status && c.Message == "") {
					t.Errorf("NetworkReady = %+v, want status %v reason %q", c, tc.wantReady, tc.wantReason)
				}
				return
			}
			t.Error("no NetworkReady condition")
		})
	}
}

func TestSocketIsRootOnly(t *testing.T) {
	d := startDaemon(t)
	fi, err := os.Stat(d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 || st.Uid != 0 || st.Gid != 0 {
		t.Errorf("socket mode %v owner %d:%d, want srw-rw---- root:root", fi.Mode(), st.Uid, st.Gid)
	}
}

func TestSecondDaemonIsRefused(t *testing.T) {
	d := startDaemon(t)
	cases := []struct {
		desc string
		args []string
		want string
	}{
		{desc: "same dirs and socket", args: d.Flags(), want: "another cricketd uses"},
		{desc: "own dirs, same socket", args: []string{"--root", filepath.Join(d.Dir, "r2"), "--state", filepath.Join(d.Dir, "s2"), "--listen", d.Socket}, want: "in use by another live process"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			code, out := runDaemonOnce(t, 20*time.Second, tc.args...)
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Errorf("second daemon: exit %d, output:\n%s\nwant non-zero and %q", code, out, tc.want)
			}
		})
	}
	// The first daemon still serves.
	if _, err := d.Runtime().Version(context.Background(), &runtimeapi.VersionRequest{}); err != nil {
		t.Errorf("first daemon stopped serving: %v", err)
	}
}

func TestStaleSocketIsReplaced(t *testing.T) {
	d := newDaemon(t)
	if err := os.MkdirAll(filepath.Dir(d.Socket), 0o711); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // what a crashed daemon leaves behind
	d.Start()
}

func TestSIGTERMStopsGracefully(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			d := startDaemon(t)
			if !d.Signal(sig, 15*time.Second) {
				t.Fatalf("cricketd did not exit on %v", sig)
			}
			if code := d.ExitCode(); code != 0 {
				t.Errorf("exit code %d after %v, want 0\n%s", code, sig, d.RunLog())
			}
			if _, err := os.Stat(d.Socket); !os.IsNotExist(err) {
				t.Errorf("socket left behind after %v: %v", sig, err)
			}
			// A new daemon starts on the same dirs at once.
			d.Start()
		})
	}
}

func TestInvalidConfigExits2(t *testing.T) {
	d := newDaemon(t)
	bad := "bogus = 1\n[runtime]\ncgroup_driver = \"cgroupv3\"\n[grpc]\nlisten = \"relative.sock\"\n"
	if err := os.WriteFile(d.Config, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runDaemonOnce(t, 20*time.Second, "--config", d.Config, "--root", d.Root, "--state", d.State)
	if code != 2 {
		t.Errorf("exit code %d, want 2\n%s", code, out)
	}
	for _, want := range []string{"bogus: unknown key", "runtime.cgroup_driver", "grpc.listen"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code, out := runDaemonOnce(t, 20*time.Second, "--config", filepath.Join(d.Dir, "missing.toml")); code != 2 {
		t.Errorf("explicit missing config: exit %d, want 2\n%s", code, out)
	}
	if code, out := runDaemonOnce(t, 20*time.Second, "--no-such-flag"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2\n%s", code, out)
	}
}

func TestConfigDefaultAndVersion(t *testing.T) {
	newDaemon(t) // root gate
	code, out := runDaemonOnce(t, 20*time.Second, "config", "default")
	if code != 0 {
		t.Fatalf("config default: exit %d\n%s", code, out)
	}
	if _, err := config.Parse([]byte(out)); err != nil {
		t.Errorf("printed default config does not parse: %v", err)
	}
	code, out = runDaemonOnce(t, 20*time.Second, "version")
	if code != 0 || !strings.HasPrefix(out, "cricketd v") {
		t.Errorf("version: exit %d, output %q", code, out)
	}
}

func TestConfigFileAndFlags(t *testing.T) {
	d := newDaemon(t)
	cfg := "[runtime]\ncgroup_driver = \"systemd\"\n[grpc]\nlisten = \"/nonexistent/overridden.sock\"\n"
	if err := os.WriteFile(d.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Start() // --listen overrides grpc.listen, or Start would time out
	resp, err := d.Runtime().RuntimeConfig(context.Background(), &runtimeapi.RuntimeConfigRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetLinux().GetCgroupDriver(); got != runtimeapi.CgroupDriver_SYSTEMD {
		t.Errorf("cgroup driver = %v, want SYSTEMD from the file", got)
	}
}

func TestPodCIDRSurvivesRestart(t *testing.T) {
	d := startDaemon(t)
	rt := d.Runtime()
	_, err := rt.UpdateRuntimeConfig(context.Background(), &runtimeapi.UpdateRuntimeConfigRequest{
		RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: "not-a-cidr"}},
	})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("invalid pod CIDR: code %v, want InvalidArgument", status.Code(err))
	}
	_, err = rt.UpdateRuntimeConfig(context.Background(), &runtimeapi.UpdateRuntimeConfigRequest{
		RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: "10.88.0.0/16"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Stop()
	st, err := store.Open(filepath.Join(d.Root, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		PodCIDR string `json:"podCIDR"`
	}
	if _, err := st.Get("network", "runtime-config", &rec); err != nil || rec.PodCIDR != "10.88.0.0/16" {
		t.Errorf("persisted pod CIDR = %q (%v), want 10.88.0.0/16", rec.PodCIDR, err)
	}
	d.Start() // and the daemon starts again on that state
}
