package ctrdconfig

import (
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// full sets every field, with characters TOML must escape in one path.
func full() Config {
	return Config{
		Root:                "/w/rt/root",
		State:               "/w/rt/state",
		Address:             "/w/rt/c.sock",
		TTRPCAddress:        "/w/rt/c.sock.ttrpc",
		OptPath:             "/w/rt/opt",
		SandboxImage:        "registry.k8s.io/pause:3.10.2",
		RegistryConfigPath:  `/w/cert"s\d` + "\t",
		CNIBinDirs:          []string{"/w/cni-bin", "/usr/lib/cni"},
		CNIConfDir:          "/w/net.d",
		RuncBinary:          "/cache/runc",
		RuncRoot:            "/w/rt/runc",
		RestrictOOMScoreAdj: true,
	}
}

// get walks a decoded TOML document along keys.
func get(t *testing.T, doc map[string]any, keys ...string) any {
	t.Helper()
	var v any = doc
	for i, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s is not a table", strings.Join(keys[:i], "."))
		}
		if v, ok = m[k]; !ok {
			return nil
		}
	}
	return v
}

// The tables of the config, as key paths.
var (
	cri     = []string{"plugins", "io.containerd.grpc.v1.cri"}
	images  = []string{"plugins", "io.containerd.cri.v1.images"}
	runtime = []string{"plugins", "io.containerd.cri.v1.runtime"}
	runc    = key(runtime, "containerd", "runtimes", "runc")
	opt     = []string{"plugins", "io.containerd.internal.v1.opt"}
)

func key(table []string, keys ...string) []string {
	return append(append([]string{}, table...), keys...)
}

// check is one key of a rendered config and its value; nil: absent.
type check struct {
	key  []string
	want any
}

// common are the keys every rendering has, from c.
func common(c Config) []check {
	return []check{
		{key(nil, "version"), int64(3)},
		{key(nil, "root"), c.Root},
		{key(nil, "state"), c.State},
		{key(nil, "disabled_plugins"), []any{"io.containerd.nri.v1.nri"}},
		{key(nil, "grpc", "address"), c.Address},
		{key(cri, "stream_server_address"), "127.0.0.1"},
		{key(cri, "stream_server_port"), "0"},
		{key(images, "snapshotter"), "overlayfs"},
		{key(images, "pinned_images", "sandbox"), c.SandboxImage},
		{key(images, "registry", "config_path"), c.RegistryConfigPath},
		{key(runtime, "enable_cdi"), false},
		{key(runtime, "restrict_oom_score_adj"), c.RestrictOOMScoreAdj},
		{key(runtime, "cni", "bin_dirs"), []any{"/w/cni-bin", "/usr/lib/cni"}},
		{key(runtime, "cni", "conf_dir"), c.CNIConfDir},
		{key(runtime, "containerd", "default_runtime_name"), "runc"},
		{key(runc, "runtime_type"), "io.containerd.runc.v2"},
		{key(runc, "options", "BinaryName"), c.RuncBinary},
		{key(runc, "options", "SystemdCgroup"), false},
	}
}

func TestRender(t *testing.T) {
	minimal := full()
	minimal.TTRPCAddress, minimal.OptPath, minimal.RuncRoot, minimal.RestrictOOMScoreAdj = "", "", "", false
	for _, tc := range []struct {
		desc string
		cfg  Config
		more []check
	}{
		{"every field", full(), []check{
			{key(nil, "ttrpc", "address"), "/w/rt/c.sock.ttrpc"},
			{key(opt, "path"), "/w/rt/opt"},
			{key(runc, "options", "Root"), "/w/rt/runc"},
		}},
		{"optional fields empty", minimal, []check{
			{key(nil, "ttrpc"), nil},
			{key(opt), nil},
			{key(runc, "options", "Root"), nil},
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			out, err := tc.cfg.Text()
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if _, err := toml.Decode(out, &doc); err != nil {
				t.Fatalf("not TOML: %v\n%s", err, out)
			}
			for _, c := range append(common(tc.cfg), tc.more...) {
				if got := get(t, doc, c.key...); !reflect.DeepEqual(got, c.want) {
					t.Errorf("%s = %#v, want %#v", strings.Join(c.key, "."), got, c.want)
				}
			}
		})
	}
}

func TestRenderRequired(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		unset func(*Config)
	}{
		{"root", func(c *Config) { c.Root = "" }},
		{"state", func(c *Config) { c.State = "" }},
		{"address", func(c *Config) { c.Address = "" }},
		{"sandbox image", func(c *Config) { c.SandboxImage = "" }},
		{"registry config path", func(c *Config) { c.RegistryConfigPath = "" }},
		{"CNI bin dirs", func(c *Config) { c.CNIBinDirs = nil }},
		{"CNI conf dir", func(c *Config) { c.CNIConfDir = "" }},
		{"runc", func(c *Config) { c.RuncBinary = "" }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := full()
			tc.unset(&c)
			if out, err := c.Text(); err == nil {
				t.Fatalf("rendered without %s:\n%s", tc.desc, out)
			}
		})
	}
}

func TestRestrictOOMScoreAdj(t *testing.T) {
	// Status texts as /proc/self/status has them; only CapBnd counts.
	status := func(eff, bnd string) string {
		return "Name:\tcat\nUmask:\t0022\nCapInh:\t0000000000000000\nCapPrm:\t" + eff + "\nCapEff:\t" + eff +
			"\nCapBnd:\t" + bnd + "\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\n"
	}
	for _, tc := range []struct {
		desc    string
		status  string
		want    bool
		wantErr bool
	}{
		{"full bounding set", status("000001ffffffffff", "000001ffffffffff"), false, false},
		// This CI host: everything but CAP_SYS_RESOURCE (bit 24).
		{"bounding set without CAP_SYS_RESOURCE", status("000001fffeffffff", "000001fffeffffff"), true, false},
		// A shell that dropped it from its effective set only: the
		// containerd it execs as root gets it back.
		{"effective set without it, bounding set with it", status("000001fffeffffff", "000001ffffffffff"), false, false},
		{"effective set with it, bounding set without it", status("000001ffffffffff", "000001fffeffffff"), true, false},
		{"only CAP_SYS_RESOURCE", status("0000000001000000", "0000000001000000"), false, false},
		{"empty bounding set", status("0000000000000000", "0000000000000000"), true, false},
		{"no CapBnd line", "Name:\tcat\nCapEff:\t000001ffffffffff\n", false, true},
		{"CapBnd not hex", status("0", "zz"), false, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := RestrictOOMScoreAdj(strings.NewReader(tc.status))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("restrict = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	for _, s := range []string{"/plain/path", `back\slash`, `"quoted"`, "tab\tnewline\n\x7f\x01", "ünïcødé"} {
		var doc struct{ K string }
		if _, err := toml.Decode("K = "+quote(s), &doc); err != nil {
			t.Fatalf("quote(%q) = %s: not TOML: %v", s, quote(s), err)
		}
		if doc.K != s {
			t.Errorf("quote(%q) = %s reads back as %q", s, quote(s), doc.K)
		}
	}
}
