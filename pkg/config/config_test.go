package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestDefaultRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := Default().WriteTOML(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("default config does not parse back: %v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(got, Default()) {
		t.Fatalf("round trip changed the config:\ngot  %+v\nwant %+v", got, Default())
	}
}

func TestDefaultIsValid(t *testing.T) {
	if errs := Default().Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
}

func errPaths(err error) []string {
	var errs Errors
	if !errors.As(err, &errs) {
		return nil
	}
	var paths []string
	for _, e := range errs {
		paths = append(paths, e.Path)
	}
	sort.Strings(paths)
	return paths
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		desc  string
		toml  string
		paths []string
	}{
		{desc: "unknown top-level key", toml: `rooot = "/x"`, paths: []string{"rooot"}},
		{desc: "unknown nested key", toml: "[grpc]\nlisten_addr = \"/x\"", paths: []string{"grpc.listen_addr"}},
		{desc: "wrong type", toml: `root = 3`, paths: []string{"root"}},
		{desc: "relative path", toml: `root = "var/lib"`, paths: []string{"root"}},
		{desc: "unclean path", toml: `state = "/run//cricket/"`, paths: []string{"state"}},
		{desc: "bad duration", toml: "[image]\npull_progress_timeout = \"soon\"", paths: []string{"image.pull_progress_timeout"}},
		{desc: "negative duration", toml: "[image]\npull_progress_timeout = \"-1s\"", paths: []string{"image.pull_progress_timeout"}},
		{desc: "bad cgroup driver", toml: "[runtime]\ncgroup_driver = \"cgroupv3\"", paths: []string{"runtime.cgroup_driver"}},
		{desc: "unknown default handler", toml: "[runtime]\ndefault_handler = \"kata\"", paths: []string{"runtime.default_handler"}},
		{desc: "handler without path", toml: "[runtime.handlers.kata]\ntype = \"runc\"", paths: []string{"runtime.handlers.kata.path"}},
		{desc: "handler bad type", toml: "[runtime.handlers.kata]\ntype = \"vm\"\npath = \"/bin/kata\"", paths: []string{"runtime.handlers.kata.type"}},
		{desc: "builtin with path", toml: "[runtime.handlers.cricket]\npath = \"/bin/x\"", paths: []string{"runtime.handlers.cricket.path"}},
		{desc: "apparmor profile named unconfined", toml: "[runtime]\napparmor_default_profile = \"unconfined\"", paths: []string{"runtime.apparmor_default_profile"}},
		{desc: "apparmor profile with a quote", toml: "[runtime]\napparmor_default_profile = 'a\"b'", paths: []string{"runtime.apparmor_default_profile"}},
		{desc: "empty apparmor profile", toml: "[runtime]\napparmor_default_profile = \"\"", paths: []string{"runtime.apparmor_default_profile"}},
		{desc: "array item type", toml: "[network]\ncni_bin_dirs = [\"/opt/cni/bin\", 7]", paths: []string{"network.cni_bin_dirs[1]"}},
		{desc: "empty bin dirs", toml: "[network]\ncni_bin_dirs = []", paths: []string{"network.cni_bin_dirs"}},
		{desc: "port out of range", toml: "[streaming]\nport = 70000", paths: []string{"streaming.port"}},
		{desc: "bad address", toml: "[streaming]\naddress = \"nowhere\"", paths: []string{"streaming.address"}},
		{desc: "table expected", toml: `grpc = "x"`, paths: []string{"grpc"}},
		{desc: "metrics address without port", toml: "[metrics]\naddress = \"127.0.0.1\"", paths: []string{"metrics.address"}},
		{desc: "pprof without metrics", toml: "[metrics]\npprof = true", paths: []string{"metrics.pprof"}},
		{desc: "NRI enabled without socket", toml: "[nri]\nenable = true\nsocket_path = \"\"", paths: []string{"nri.socket_path"}},
		{desc: "NRI relative socket", toml: "[nri]\nsocket_path = \"nri.sock\"", paths: []string{"nri.socket_path"}},
		{desc: "NRI zero request timeout", toml: "[nri]\nrequest_timeout = \"0s\"", paths: []string{"nri.request_timeout"}},
		{desc: "relative absent mount source", toml: "[runtime]\nabsent_mount_sources_to_reject = [\"/ok\", \"etc\"]", paths: []string{"runtime.absent_mount_sources_to_reject[1]"}},
		{desc: "bad handler platform", toml: "[runtime.handlers.arm]\ntype = \"runc\"\npath = \"/bin/x\"\nplatform = \"arm64\"", paths: []string{"runtime.handlers.arm.platform"}},
		{desc: "syntax error", toml: "root = ", paths: []string{"line 1"}},
		{
			desc:  "every error at once",
			toml:  "version = 2\nbogus = 1\n[grpc]\nlisten = \"rel\"\n[image]\nmax_concurrent_downloads = 0\n",
			paths: []string{"bogus", "grpc.listen", "image.max_concurrent_downloads", "version"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Parse([]byte(tc.toml))
			if err == nil {
				t.Fatal("want an error, got none")
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("error %v does not wrap ErrInvalidArgument", err)
			}
			if got := errPaths(err); !reflect.DeepEqual(got, tc.paths) {
				t.Errorf("error paths = %v, want %v\n%v", got, tc.paths, err)
			}
		})
	}
}

func TestParseOverrides(t *testing.T) {
	cfg, err := Parse([]byte(`
root = "/srv/cricket"
[runtime]
cgroup_driver = "systemd"
apparmor_default_profile = "site-containers"
[runtime.handlers.kata]
type = "runc"
path = "/usr/bin/kata-runtime"
[image]
pull_progress_timeout = "30s"
pinned_images = ["registry.k8s.io/pause:3.10"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Root != "/srv/cricket" || cfg.Runtime.CgroupDriver != "systemd" {
		t.Errorf("scalars not applied: %+v", cfg)
	}
	if cfg.Runtime.AppArmorDefaultProfile != "site-containers" {
		t.Errorf("apparmor_default_profile = %q", cfg.Runtime.AppArmorDefaultProfile)
	}
	if cfg.Image.PullProgressTimeout.Duration != 30*time.Second {
		t.Errorf("duration = %v", cfg.Image.PullProgressTimeout)
	}
	if _, ok := cfg.Runtime.Handlers["runc"]; !ok {
		t.Error("adding a handler dropped the default ones")
	}
	if h := cfg.Runtime.Handlers["kata"]; h.Path != "/usr/bin/kata-runtime" {
		t.Errorf("kata handler = %+v", h)
	}
	if cfg.State != Default().State {
		t.Errorf("unset key lost its default: state = %q", cfg.State)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.toml")
	if _, err := Load(missing, true, nil); err != nil {
		t.Errorf("optional missing file: %v", err)
	}
	if _, err := Load(missing, false, nil); err == nil {
		t.Error("required missing file: want an error")
	}
	path := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(path, []byte("root = \"/a\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, false, func(c *Config) { c.Root = "/b" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Root != "/b" {
		t.Errorf("override not applied after file: root = %q", cfg.Root)
	}
	_, err = Load(path, false, func(c *Config) { c.State = "relative" })
	if got := errPaths(err); !reflect.DeepEqual(got, []string{"state"}) {
		t.Errorf("override is validated: got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	var buf bytes.Buffer
	_ = Default().WriteTOML(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte("[runtime.handlers.x]\ntype = 1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err == nil && len(cfg.Validate()) > 0 {
			t.Fatal("Parse accepted an invalid config")
		}
	})
}
