package imagebuild

import (
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The tags Kubernetes v1.37's test/utils/image/manifest.go names for the
// images the node end-to-end suite (test/e2enode) runs.
const (
	agnhostTag     = "2.66.1"
	agnhostPrevTag = "2.55"
	glibcDNSTag    = "2.1.1"
)

// NodeE2ECatalog is the image set of Kubernetes' node end-to-end suite
// (test/e2e_node, v1.37) that can be rebuilt offline: agnhost from its source
// (k8s.io/kubernetes/test/images/agnhost, compiled by the caller: agnhostBin
// is a static binary) and the busybox-based images whose upstream Dockerfile
// only adds a file or a USER to a base image. README.md lists those that
// cannot be rebuilt and why.
func NodeE2ECatalog(agnhostBin string) []Spec {
	agn := agnhost(agnhostBin)
	return []Spec{
		{Ref: e2e + "agnhost:" + agnhostTag, Format: Docker, Recipe: agn,
			Contents: "agnhost " + agnhostTag + " (built from k8s.io/kubernetes/test/images/agnhost) on the busybox layers: ENTRYPOINT /agnhost, CMD pause, /agnhost-2, /uploads, user-defined-in-image(1000) in group-defined-in-image(50000)"},
		{Ref: e2e + "agnhost:" + agnhostPrevTag, Format: Docker, Recipe: agn,
			Contents: "the same agnhost under the previous tag the suite names (AgnhostPrev)"},
		{Ref: e2e + "busybox:1.37.0-2", Format: Docker, Recipe: busybox,
			Contents: "busybox shell (Cmd sh), as busybox:1.29-2"},
		{Ref: e2e + "nginx:1.27.0-2", Format: Docker, Recipe: nginx("1.27.0", "80", "SIGQUIT"),
			Contents: "nginx stand-in on :80 (see nginx:1.14-2)"},
		{Ref: e2e + "nginx:1.28.0-2", Format: Docker, Recipe: nginx("1.28.0", "80", "SIGQUIT"),
			Contents: "nginx stand-in on :80 (NginxNew)"},
		{Ref: e2e + "nonewprivs:1.4", Format: Docker, Recipe: nonewprivs,
			Contents: "as nonewprivs:1.3"},
		{Ref: e2e + "nonroot:1.5", Format: Docker, Recipe: withUser("1234"),
			Contents: "busybox with USER 1234 (upstream: FROM busybox, USER 1234)"},
	}
}

// agnhostTools are the host programs put into the agnhost image, each with
// the shared libraries it loads, in place of the Alpine packages its
// Dockerfile adds: the suites' network checks run `curl -g -q -s
// http://<netexec>/dial?...`, `nc -u` and `nc -v -t` (netcat-openbsd; busybox's
// nc has neither flag), the DNS specs' musl prober runs dig (bind-tools) and
// getent, and the probe specs' containers run `/bin/bash -c` (Alpine's bash
// lives at /bin/bash; Debian's at /usr/bin/bash). Each is the host program at
// host, put at image in the image.
var agnhostTools = []struct{ host, image, pkg string }{
	{"/usr/bin/curl", "/usr/bin/curl", "curl"},
	{"/usr/bin/nc", "/usr/bin/nc", "netcat-openbsd"},
	{"/usr/bin/dig", "/usr/bin/dig", "bind9-dnsutils"},
	{"/usr/bin/getent", "/usr/bin/getent", "libc-bin"},
	{"/usr/bin/bash", "/bin/bash", "bash"},
}

// agnhost builds the agnhost image from a compiled agnhost binary, laid out
// as test/images/agnhost/Dockerfile lays it out. Of the Alpine packages that
// Dockerfile adds, curl, netcat, dig, getent and bash are the host's
// (agnhostTools); the others (iproute2, socat, iperf, coredns) are not
// there: busybox's applets (ip, ...) stand in for the common ones.
func agnhost(binPath string) func(*Builder, Format) (v1.Image, error) {
	return func(b *Builder, f Format) (v1.Image, error) {
		bin, err := os.ReadFile(binPath)
		if err != nil {
			return nil, fmt.Errorf("agnhost binary: %w", err)
		}
		var steps []Step
		for _, tool := range agnhostTools {
			l, err := hostProgramLayer(tool.host, tool.image)
			if err != nil {
				return nil, fmt.Errorf("agnhost's %s: %w (apt-get install %s)", tool.image, err, tool.pkg)
			}
			st, err := LayerStep("RUN apk add "+filepath.Base(tool.image)+" # the host's "+tool.host+" and its shared libraries", l)
			if err != nil {
				return nil, err
			}
			steps = append(steps, st)
		}
		lb := NewLayer()
		// The porter's TLS certificate and key (its HTTPS ports), from
		// test/images/agnhost/porter, beside the binary (test/kubelet/build.sh
		// puts them there).
		for _, name := range []string{"localhost.crt", "localhost.key"} {
			data, err := os.ReadFile(filepath.Join(filepath.Dir(binPath), name))
			if err != nil {
				return nil, fmt.Errorf("agnhost's porter/%s beside %s: %w", name, binPath, err)
			}
			lb.File("/"+name, data, 0o644, 0, 0)
		}
		lb.
			File("/agnhost", bin, 0o755, 0, 0).
			Symlink("/agnhost-2", "agnhost").
			Dir("/uploads", 0o755, 0, 0).
			File("/etc/passwd", []byte(basePasswd+"user-defined-in-image:x:1000:1000:Linux User,,,:/home/user-defined-in-image:/bin/sh\n"), 0o644, 0, 0).
			File("/etc/group", []byte(baseGroup+"user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n"), 0o644, 0, 0).
			File("/etc/shadow", []byte(baseShadow+"user-defined-in-image:!::0:99999:7:::\n"), 0o640, 0, 0).
			Dir("/home/user-defined-in-image", 0o755, 1000, 1000)
		step, err := LayerStep("ADD agnhost agnhost && ln -s agnhost agnhost-2 && mkdir /uploads && adduser -u 1000 -D user-defined-in-image && addgroup -g 50000 group-defined-in-image", lb)
		if err != nil {
			return nil, err
		}
		cfg := v1.Config{
			Entrypoint:   []string{"/agnhost"},
			Cmd:          []string{"pause"},
			Env:          []string{DefaultPath},
			ExposedPorts: map[string]struct{}{"80/tcp": {}, "8080/tcp": {}, "8081/tcp": {}, "9376/tcp": {}, "5000/tcp": {}},
		}
		steps = append(steps, step, Step{CreatedBy: `ENTRYPOINT ["/agnhost"]`}, Step{CreatedBy: `CMD ["pause"]`})
		return busyboxImage(b, f, cfg, steps...)
	}
}

// hostProgramLayer is a layer of the host's program at path, put at image
// in the layer, with the shared libraries it loads (as ldd resolves them
// here, at their host paths).
func hostProgramLayer(path, image string) (*LayerBuilder, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lb := NewLayer().File(image, bin, 0o755, 0, 0)
	return lb, addSharedLibs(lb, path)
}

// GlibcDNSTestingSpec is e2e-test-images/glibc-dns-testing, the glibc image
// of the suites' hostname and DNS specs (`hostname -f` as glibc answers it,
// dig and nslookup), built from rootfsTar: a Debian 12 minbase root file
// system with dnsutils, as test/e2enode/glibc-dns.sh makes it with
// mmdebstrap. Its upstream Dockerfile is Debian's base image plus dnsutils
// and a coredns 1.5.0 binary downloaded from GitHub, which is left out (no
// NodeConformance spec runs it).
func GlibcDNSTestingSpec(rootfsTar string) Spec {
	return Spec{
		Ref:    e2e + "glibc-dns-testing:" + glibcDNSTag,
		Format: Docker,
		Recipe: func(b *Builder, f Format) (v1.Image, error) {
			if _, err := os.Stat(rootfsTar); err != nil {
				return nil, fmt.Errorf("glibc-dns-testing root file system: %w (test/e2enode/glibc-dns.sh builds it)", err)
			}
			layer, err := tarball.LayerFromFile(rootfsTar, tarball.WithCompressedCaching)
			if err != nil {
				return nil, fmt.Errorf("glibc-dns-testing layer: %w", err)
			}
			cfg := v1.Config{Cmd: []string{"bash"}, Env: []string{DefaultPath}}
			return b.Image(f, cfg, Step{Layer: layer, CreatedBy: "mmdebstrap --variant=minbase --include=dnsutils bookworm # test/e2enode/glibc-dns.sh"})
		},
		Contents: "Debian 12 minbase with dnsutils (glibc's hostname -f, dig, nslookup), CMD bash; no coredns",
	}
}
