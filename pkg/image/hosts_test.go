package image

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestParseHostsFileGolden(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		dir      string
		registry string
	}{
		{desc: "mirrors in file order then server", dir: "mirrors", registry: "docker.io"},
		{desc: "empty file means upstream only", dir: "minimal", registry: "quay.io"},
		{desc: "override path", dir: "override", registry: "registry.k8s.io"},
		{desc: "certificates relative to the dir", dir: "certs", registry: "registry.internal:8443"},
		{desc: "default server", dir: "default-only", registry: "gcr.io"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir := filepath.Join("testdata", "hosts", tc.dir)
			data, err := os.ReadFile(filepath.Join(dir, "hosts.toml"))
			if err != nil {
				t.Fatal(err)
			}
			hosts, err := ParseHostsFile(tc.registry, "/certs.d/"+tc.dir, data)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(hosts, "", "  ")
			golden := filepath.Join(dir, "want.json")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(want) != string(got)+"\n" {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestParseHostsFileErrors(t *testing.T) {
	for _, tc := range []struct{ desc, data string }{
		{desc: "not toml", data: "server = "},
		{desc: "bad capability", data: "[host.\"https://m\"]\ncapabilities = [\"fly\"]"},
		{desc: "bad scheme", data: "server = \"ftp://x\""},
		{desc: "ca of wrong type", data: "ca = 3"},
		{desc: "client pair too long", data: "client = [[\"a\", \"b\", \"c\"]]"},
		{desc: "header of wrong type", data: "header = { a = 1 }"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := ParseHostsFile("r.io", "", []byte(tc.data)); !errdefs.IsInvalidArgument(err) {
				t.Errorf("err = %v, want InvalidArgument", err)
			}
		})
	}
}

func TestHostsConfigLookup(t *testing.T) {
	dir := t.TempDir()
	writeHosts(t, dir, "registry.k8s.io", "[host.\"http://127.0.0.1:1\"]\n")
	writeHosts(t, dir, "_default", "[host.\"http://127.0.0.1:2\"]\n")
	writeHosts(t, dir, "local_5000_", "server = \"http://local:5000\"\n")
	for _, tc := range []struct {
		desc, registry string
		want           []string
	}{
		{desc: "own dir", registry: "registry.k8s.io", want: []string{"http://127.0.0.1:1/v2", "https://registry.k8s.io/v2"}},
		{desc: "default dir", registry: "gcr.io", want: []string{"http://127.0.0.1:2/v2", "https://gcr.io/v2"}},
		{desc: "port dir", registry: "local:5000", want: []string{"http://local:5000/v2"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			hosts, err := HostsConfig{Dir: dir}.Hosts(tc.registry)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range hosts {
				got = append(got, h.URL())
			}
			if !equalStrings(got, tc.want) {
				t.Errorf("hosts = %v, want %v", got, tc.want)
			}
		})
	}
	hosts, err := HostsConfig{}.Hosts("docker.io")
	if err != nil || len(hosts) != 1 || hosts[0].URL() != "https://registry-1.docker.io/v2" {
		t.Errorf("no config dir: %+v, %v", hosts, err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzParseHostsFile(f *testing.F) {
	for _, d := range []string{"mirrors", "override", "certs", "default-only"} {
		b, err := os.ReadFile(filepath.Join("testdata", "hosts", d, "hosts.toml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hosts, err := ParseHostsFile("docker.io", "/etc", data)
		if err != nil {
			return
		}
		if len(hosts) == 0 || hosts[len(hosts)-1].Mirror {
			t.Fatalf("parsed hosts without upstream last: %+v", hosts)
		}
		for _, h := range hosts {
			if h.Scheme != "http" && h.Scheme != "https" {
				t.Fatalf("scheme %q", h.Scheme)
			}
		}
	})
}
