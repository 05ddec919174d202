package imagebuild

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestWriteHostsDir(t *testing.T) {
	dir := t.TempDir()
	addrs := map[string]string{"registry.k8s.io": "127.0.0.1:5000", "docker.io": "127.0.0.1:5000", "gcr.io": "127.0.0.1:5001"}
	if err := WriteHostsDir(dir, addrs); err != nil {
		t.Fatal(err)
	}
	for host, addr := range addrs {
		data, err := os.ReadFile(filepath.Join(dir, host, "hosts.toml"))
		if err != nil {
			t.Fatal(err)
		}
		var parsed struct {
			Server string `toml:"server"`
			Host   map[string]struct {
				Capabilities []string `toml:"capabilities"`
			} `toml:"host"`
		}
		if _, err := toml.Decode(string(data), &parsed); err != nil {
			t.Fatalf("%s/hosts.toml does not parse: %v\n%s", host, err, data)
		}
		if parsed.Server != "http://"+addr {
			t.Errorf("%s: server %q", host, parsed.Server)
		}
		caps := parsed.Host["http://"+addr].Capabilities
		if strings.Join(caps, ",") != "pull,resolve" {
			t.Errorf("%s: mirror http://%s capabilities %v\n%s", host, addr, caps, data)
		}
	}
	if UpstreamServer("docker.io") != "https://registry-1.docker.io" || UpstreamServer("gcr.io") != "https://gcr.io" {
		t.Error("UpstreamServer mapping changed")
	}
}
