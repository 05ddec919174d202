package imagebuild

import (
	"fmt"
	"os"
	"path/filepath"
)

// UpstreamServer is the URL containerd uses for an upstream host when no
// mirror answers; Docker Hub's registry lives at registry-1.docker.io.
func UpstreamServer(host string) string {
	if host == "docker.io" {
		return "https://registry-1.docker.io"
	}
	return "https://" + host
}

// HostsTOML is a containerd-style hosts.toml for upstream host served by the
// plain-HTTP mirror at addr. Its server is the mirror too, not the upstream:
// a runtime falls back to the server when the mirror lacks an image, and
// tests must never reach (or even resolve) a host off this machine.
func HostsTOML(host, addr string) string {
	return fmt.Sprintf("# Written by test/images: %s is served by the test registry at %s.\n# The server is the mirror as well, so that nothing is ever fetched from %s.\nserver = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n",
		host, addr, UpstreamServer(host), "http://"+addr, "http://"+addr)
}

// WriteHostsDir writes dir/<host>/hosts.toml for every host of hostAddrs
// (upstream host -> mirror address), the layout of containerd's
// config_path and of Cricket's registry mirror configuration.
func WriteHostsDir(dir string, hostAddrs map[string]string) error {
	for host, addr := range hostAddrs {
		d := filepath.Join(dir, host)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create hosts dir %s: %w", d, err)
		}
		f := filepath.Join(d, "hosts.toml")
		if err := os.WriteFile(f, []byte(HostsTOML(host, addr)), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f, err)
		}
	}
	return nil
}
