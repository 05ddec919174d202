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
		{desc: "tracing endpoint without port", toml: "[tracing]\nendpoint = \"collector\"", paths: []string{"tracing.endpoint"}},
		{desc: "tracing endpoint bad scheme", toml: "[tracing]\nendpoint = \"grpc://collector:4317\"", paths: []string{"tracing.endpoint"}},
		{desc: "tracing endpoint with path", toml: "[tracing]\nendpoint = \"https://collector:4317/v1/traces\"", paths: []string{"tracing.endpoint"}},
		{desc: "sampling ratio above one", toml: "[tracing]\nsampling_ratio = 1.5", paths: []string{"tracing.sampling_ratio"}},
		{desc: "sampling ratio a string", toml: "[tracing]\nsampling_ratio = \"half\"", paths: []string{"tracing.sampling_ratio"}},
		{desc: "empty service name", toml: "[tracing]\nservice_name = \"\"", paths: []string{"tracing.service_name"}},
		{desc: "relative absent mount source", toml: "[runtime]\nabsent_mount_sources_to_reject = [\"/ok\", \"etc\"]", paths: []string{"runtime.absent_mount_sources_to_reject[1]"}},
		{desc: "bad handler platform", toml: "[runtime.handlers.arm]\ntype = \"runc\"\npath = \"/bin/x\"\nplatform = \"arm64\"", paths: []string{"runtime.handlers.arm.platform"}},
		{desc: "syntax error", toml: "root = ", paths: []string{"line 1"}},
		{desc: "TLS cert without key", toml: "[streaming]\ntls_cert_file = \"/c.pem\"", paths: []string{"streaming.tls_key_file"}},
		{desc: "TLS CA alone", toml: "[streaming]\ntls_ca_file = \"/ca.pem\"", paths: []string{"streaming.tls_ca_file"}},
		{desc: "verbosity out of range", toml: "[log]\nverbosity = 11", paths: []string{"log.verbosity"}},
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

func TestParseTracing(t *testing.T) {
	for _, tc := range []struct {
		desc, toml string
		want       Tracing
	}{
		{desc: "default is off", toml: "", want: Tracing{SamplingRatio: 1, ServiceName: "cricketd"}},
		{desc: "host:port, float ratio", toml: "[tracing]\nendpoint = \"127.0.0.1:4317\"\nsampling_ratio = 0.25",
			want: Tracing{Endpoint: "127.0.0.1:4317", SamplingRatio: 0.25, ServiceName: "cricketd"}},
		{desc: "https URL, integer ratio", toml: "[tracing]\nendpoint = \"https://otel.example:4317\"\nsampling_ratio = 0\nservice_name = \"node-7\"",
			want: Tracing{Endpoint: "https://otel.example:4317", SamplingRatio: 0, ServiceName: "node-7"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.toml))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Tracing != tc.want {
				t.Errorf("tracing = %+v, want %+v", cfg.Tracing, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.toml")
	if _, _, err := Load(Files{Main: missing, MainOptional: true}, nil); err != nil {
		t.Errorf("optional missing file: %v", err)
	}
	if _, _, err := Load(Files{Main: missing}, nil); err == nil {
		t.Error("required missing file: want an error")
	}
	path := filepath.Join(dir, "c.toml")
	writeFile(t, path, "root = \"/a\"\n")
	cfg, origins, err := Load(Files{Main: path}, func(c *Config, o Origins) { c.Root = "/b"; o["root"] = "flag --root" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Root != "/b" || origins["root"] != "flag --root" {
		t.Errorf("override not applied after file: root = %q from %q", cfg.Root, origins["root"])
	}
	_, _, err = Load(Files{Main: path}, func(c *Config, _ Origins) { c.State = "relative" })
	if got := errPaths(err); !reflect.DeepEqual(got, []string{"state"}) {
		t.Errorf("override is validated: got %v", err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDropIns(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "cricket.toml")
	dropins := DropInDirFor(main)
	writeFile(t, main, `
[image]
max_concurrent_downloads = 5
pinned_images = ["a", "b"]
[runtime.handlers.kata]
type = "runc"
path = "/usr/bin/kata"
`)
	writeFile(t, filepath.Join(dropins, "20-later.toml"), "[image]\npinned_images = [\"c\"]\n")
	writeFile(t, filepath.Join(dropins, "10-first.toml"), `
[image]
pinned_images = ["x", "y", "z"]
pull_progress_timeout = "5s"
[runtime.handlers.kata]
root = "/run/kata"
`)
	writeFile(t, filepath.Join(dropins, "30-off.toml.disabled"), "bogus = 1\n")
	writeFile(t, filepath.Join(dropins, ".hidden.toml"), "bogus = 1\n")
	cfg, origins, err := Load(Files{Main: main}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Image.PinnedImages; !reflect.DeepEqual(got, []string{"c"}) {
		t.Errorf("a later file's array replaces: pinned = %v", got)
	}
	if cfg.Image.MaxConcurrentDownloads != 5 || cfg.Image.PullProgressTimeout.Duration != 5*time.Second {
		t.Errorf("tables merge key by key: %+v", cfg.Image)
	}
	if h := cfg.Runtime.Handlers["kata"]; h.Path != "/usr/bin/kata" || h.Root != "/run/kata" {
		t.Errorf("entries merge key by key: kata = %+v", h)
	}
	want := map[string]string{
		"image.max_concurrent_downloads": main,
		"image.pinned_images":            filepath.Join(dropins, "20-later.toml"),
		"image.pull_progress_timeout":    filepath.Join(dropins, "10-first.toml"),
		"runtime.handlers.kata.path":     main,
		"runtime.handlers.kata.root":     filepath.Join(dropins, "10-first.toml"),
		"runtime.handlers.kata.type":     main,
	}
	for k, v := range want {
		if origins[k] != v {
			t.Errorf("origin of %s = %q, want %q", k, origins[k], v)
		}
	}
	var buf bytes.Buffer
	if err := cfg.WriteMerged(&buf, []string{main}, origins); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"\npinned_images = [\"c\"]  # " + filepath.Join(dropins, "20-later.toml") + "\n", "\nroot = \"/var/lib/cricket\"  # default\n"} {
		if !bytes.Contains(buf.Bytes(), []byte(line)) {
			t.Errorf("config show lacks %q:\n%s", line, buf.String())
		}
	}
	if _, err := Parse(buf.Bytes()); err != nil {
		t.Errorf("config show does not parse back: %v", err)
	}
}

func TestLoadDropInErrorsNameTheirFile(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "cricket.toml")
	other := filepath.Join(dir, "elsewhere")
	writeFile(t, main, "[grpc]\nlisten = \"rel\"\n")
	writeFile(t, filepath.Join(other, "10-a.toml"), "bogus = 1\n[runtime.handlers.kata]\ntype = \"runc\"\n")
	writeFile(t, filepath.Join(other, "20-b.toml"), "[image]\nmax_concurrent_downloads = \"many\"\n")
	writeFile(t, filepath.Join(other, "30-c.toml"), "[image\n")
	_, _, err := Load(Files{Main: main, DropInDir: other}, nil)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %v", err)
	}
	got := map[string]string{}
	for _, fe := range errs {
		got[fe.Path] = fe.File
	}
	want := map[string]string{
		"bogus":                          filepath.Join(other, "10-a.toml"),
		"runtime.handlers.kata.path":     filepath.Join(other, "10-a.toml"),
		"image.max_concurrent_downloads": filepath.Join(other, "20-b.toml"),
		"line 2":                         filepath.Join(other, "30-c.toml"),
		"grpc.listen":                    main,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors by key and file:\ngot  %v\nwant %v\n%v", got, want, err)
	}
}

func TestReconcile(t *testing.T) {
	cases := []struct {
		desc             string
		edit             func(*Config)
		changed, refused []string
		kept             func(*Config) bool
	}{
		{desc: "nothing changed", edit: func(*Config) {}},
		{
			desc: "reloadable keys",
			edit: func(c *Config) {
				c.Image.RegistryConfigPath = "/x"
				c.Log.Verbosity = 3
				c.Network.BinDirs = []string{"/b"}
			},
			changed: []string{"log.verbosity", "image.registry_config_path", "network.cni_bin_dirs"},
		},
		{
			desc:    "restart keys are kept",
			edit:    func(c *Config) { c.Root = "/elsewhere"; c.Image.PinnedImages = []string{"p"} },
			changed: []string{"image.pinned_images"},
			refused: []string{"root"},
			kept:    func(c *Config) bool { return c.Root == Default().Root },
		},
		{
			desc: "handlers added and removed",
			edit: func(c *Config) {
				delete(c.Runtime.Handlers, "crun")
				c.Runtime.Handlers["kata"] = Handler{Type: HandlerRuncCLI, Path: "/k"}
			},
			changed: []string{"runtime.handlers.crun", "runtime.handlers.kata"},
		},
		{
			desc:    "a handler changed in place is kept",
			edit:    func(c *Config) { c.Runtime.Handlers["runc"] = Handler{Type: HandlerRuncCLI, Path: "/other/runc"} },
			refused: []string{"runtime.handlers.runc.path"},
			kept:    func(c *Config) bool { return c.Runtime.Handlers["runc"].Path == "/usr/sbin/runc" },
		},
		{
			desc:    "TLS turned on needs a restart",
			edit:    func(c *Config) { c.Streaming.TLSCertFile, c.Streaming.TLSKeyFile = "/c", "/k" },
			refused: []string{"streaming.tls_cert_file", "streaming.tls_key_file", "streaming.tls_ca_file"},
			kept:    func(c *Config) bool { return !c.Streaming.TLSEnabled() },
		},
		{
			desc:    "tracing turned on needs a restart",
			edit:    func(c *Config) { c.Tracing.Endpoint = "127.0.0.1:4317" },
			refused: []string{"tracing.endpoint"},
			kept:    func(c *Config) bool { return c.Tracing.Endpoint == "" },
		},
		{
			desc: "signature policy and sampling ratio reload, the service name does not",
			edit: func(c *Config) {
				c.Image.Policy.SignaturePolicy = "/etc/containers/policy.json"
				c.Tracing.SamplingRatio = 0.5
				c.Tracing.ServiceName = "other"
			},
			changed: []string{"image.policy.signature_policy", "tracing.sampling_ratio"},
			refused: []string{"tracing.service_name"},
			kept:    func(c *Config) bool { return c.Tracing.ServiceName == "cricketd" },
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			next := Default()
			tc.edit(next)
			changed, refused := Reconcile(Default(), next)
			if !reflect.DeepEqual(changed, tc.changed) || !reflect.DeepEqual(refused, tc.refused) {
				t.Errorf("changed %v refused %v, want %v and %v", changed, refused, tc.changed, tc.refused)
			}
			if tc.kept != nil && !tc.kept(next) {
				t.Errorf("refused change not reverted: %+v", next)
			}
			if c2, r2 := Reconcile(Default(), next); len(r2) > 0 || !reflect.DeepEqual(c2, tc.changed) {
				t.Errorf("after reconciling, refused %v remain", r2)
			}
		})
	}
}

func TestReloadTagsOnlyOnKnownFields(t *testing.T) {
	// Every reload tag must be "true": anything else is a typo that would
	// silently make a key need a restart.
	var walk func(reflect.Type, string)
	walk = func(tp reflect.Type, prefix string) {
		for i := 0; i < tp.NumField(); i++ {
			f := tp.Field(i)
			if v, ok := f.Tag.Lookup("reload"); ok && v != "true" {
				t.Errorf("%s%s: reload tag %q", prefix, f.Name, v)
			}
			ft := f.Type
			if ft.Kind() == reflect.Map {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Duration]() {
				walk(ft, prefix+f.Name+".")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
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
