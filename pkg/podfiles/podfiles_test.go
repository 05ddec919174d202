package podfiles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestResolvConfContent(t *testing.T) {
	many := make([]string, MaxDNSSearchPaths+1)
	for i := range many {
		many[i] = "d.example"
	}
	long := []string{strings.Repeat("a", 250), strings.Repeat("b", 250), strings.Repeat("c", 250), strings.Repeat("d", 250),
		strings.Repeat("e", 250), strings.Repeat("f", 250), strings.Repeat("g", 250), strings.Repeat("h", 250), strings.Repeat("i", 250)}
	tests := []struct {
		desc    string
		dns     *runtimeapi.DNSConfig
		want    string
		wantErr bool
	}{
		{desc: "full", dns: &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10", "fd00::a"}, Searches: []string{"ns.svc.cluster.local", "svc.cluster.local"}, Options: []string{"ndots:5", "edns0"}},
			want: "search ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\nnameserver fd00::a\noptions ndots:5 edns0\n"},
		{desc: "servers only", dns: &runtimeapi.DNSConfig{Servers: []string{"8.8.8.8"}}, want: "nameserver 8.8.8.8\n"},
		{desc: "empty config", dns: &runtimeapi.DNSConfig{}, want: ""},
		{desc: "server not an IP", dns: &runtimeapi.DNSConfig{Servers: []string{"dns.example"}}, wantErr: true},
		{desc: "too many searches", dns: &runtimeapi.DNSConfig{Searches: many}, wantErr: true},
		{desc: "search line too long", dns: &runtimeapi.DNSConfig{Searches: long}, wantErr: true},
		{desc: "injection in search", dns: &runtimeapi.DNSConfig{Searches: []string{"a\nnameserver 1.2.3.4"}}, wantErr: true},
		{desc: "injection in option", dns: &runtimeapi.DNSConfig{Options: []string{"ndots:1 x"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ResolvConfContent(tc.dns)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestHostsContent(t *testing.T) {
	tests := []struct {
		desc     string
		hostname string
		ips      []string
		contains []string
		absent   string
		wantErr  bool
	}{
		{desc: "localhost only", contains: []string{"127.0.0.1\tlocalhost\n", "::1\tlocalhost ip6-localhost ip6-loopback\n"}, absent: "pod"},
		{desc: "with pod ips", hostname: "pod", ips: []string{"10.0.0.5", "fd00::5"}, contains: []string{"10.0.0.5\tpod\n", "fd00::5\tpod\n"}},
		{desc: "hostname without ip", hostname: "pod", contains: []string{"127.0.0.1\tlocalhost\n"}, absent: "\tpod\n"},
		{desc: "bad ip", hostname: "pod", ips: []string{"x"}, wantErr: true},
		{desc: "bad hostname", hostname: "a b", ips: []string{"10.0.0.1"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := HostsContent(tc.hostname, tc.ips)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			for _, c := range tc.contains {
				if !strings.Contains(string(got), c) {
					t.Errorf("missing %q in %q", c, got)
				}
			}
			if tc.absent != "" && strings.Contains(string(got), tc.absent) {
				t.Errorf("unexpected %q in %q", tc.absent, got)
			}
		})
	}
}

func TestHostnameContent(t *testing.T) {
	tests := []struct {
		desc, in, want string
	}{
		{desc: "name", in: "pod-1", want: "pod-1\n"},
		{desc: "empty", in: ""},
		{desc: "too long", in: strings.Repeat("x", 65)},
		{desc: "newline", in: "a\nb"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := HostnameContent(tc.in)
			if string(got) != tc.want || (tc.want == "") != (err != nil) {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "host-resolv.conf")
	if err := os.WriteFile(host, []byte("nameserver 192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := PathsIn(dir)
	tests := []struct {
		desc  string
		write func() error
		path  string
		want  string
	}{
		{desc: "hostname", write: func() error { return WriteHostname(p.Hostname, "pod") }, path: p.Hostname, want: "pod\n"},
		{desc: "resolv from dns", write: func() error {
			return WriteResolvConf(p.ResolvConf, &runtimeapi.DNSConfig{Servers: []string{"10.0.0.10"}}, host)
		}, path: p.ResolvConf, want: "nameserver 10.0.0.10\n"},
		{desc: "resolv copied from host without dns", write: func() error { return WriteResolvConf(p.ResolvConf, nil, host) }, path: p.ResolvConf, want: "nameserver 192.0.2.1\n"},
		{desc: "hosts overwritten", write: func() error { return WriteHosts(p.Hosts, "pod", []string{"10.1.1.1"}) }, path: p.Hosts, want: "10.1.1.1\tpod\n"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if err := tc.write(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(tc.path)
			if err != nil || !strings.HasSuffix(string(got), tc.want) {
				t.Fatalf("got %q, %v", got, err)
			}
			fi, _ := os.Stat(tc.path)
			if fi.Mode().Perm() != 0o644 {
				t.Fatalf("mode %v", fi.Mode())
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temp file left: %s", e.Name())
		}
	}
}

func TestWriteResolvConfMissingHost(t *testing.T) {
	if err := WriteResolvConf(filepath.Join(t.TempDir(), "r"), nil, "/nonexistent/resolv.conf"); err == nil {
		t.Fatal("no error")
	}
}
