package imagebuild

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The tags Kubernetes v1.37's test/utils/image/manifest.go names for the
// images the node end-to-end suite (test/e2enode) runs.
const (
	agnhostTag     = "2.66.1"
	agnhostPrevTag = "2.55"
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
		{Ref: e2e + "glibc-dns-testing:2.1.1", Format: Docker, Recipe: glibcDNSTesting,
			Contents: "busybox with the host's (glibc) dig and getent: the DNS specs' glibc prober (upstream: Debian + dnsutils + coredns)"},
	}
}

// DNSTools are dig (Debian's bind9-dnsutils; Alpine's bind-tools in
// agnhost's Dockerfile) and getent (libc-bin), which the DNS specs run in
// both of their probers, agnhost and glibc-dns-testing.
var DNSTools = map[string]string{"/usr/bin/dig": "/usr/bin/dig", "/usr/bin/getent": "/usr/bin/getent"}

// glibcDNSTesting is test/images/glibc-dns-testing: a glibc image with dig
// (its coredns binary, which no spec runs, is not there).
func glibcDNSTesting(b *Builder, f Format) (v1.Image, error) {
	tools, err := toolsStep(DNSTools)
	if err != nil {
		return nil, err
	}
	return busyboxImage(b, f, baseConfig(), tools)
}

// AgnhostTools are the host programs the agnhost image carries (with the
// shared libraries they load) in place of the Alpine packages of the same
// name its Dockerfile adds, at the path the image's PATH finds first: the
// cluster suite's network specs run `curl` and `nc -u`/`nc -v -t`, which
// busybox's applets lack. Debian packages curl and netcat-openbsd.
var AgnhostTools = map[string]string{"/usr/bin/curl": "/usr/bin/curl", "/usr/bin/nc": "/bin/nc.openbsd"}

// agnhost builds the agnhost image from a compiled agnhost binary, laid out
// as test/images/agnhost/Dockerfile lays it out; of the Alpine packages that
// Dockerfile adds, curl and netcat are the host's (AgnhostTools); the others
// (bind-tools, iproute2, bash, socat, iperf, coredns) are not there:
// busybox's applets (nslookup, ip) stand in for the common ones.
func agnhost(binPath string) func(*Builder, Format) (v1.Image, error) {
	return func(b *Builder, f Format) (v1.Image, error) {
		all := maps.Clone(AgnhostTools)
		maps.Copy(all, DNSTools)
		tools, err := toolsStep(all)
		if err != nil {
			return nil, err
		}
		bin, err := os.ReadFile(binPath)
		if err != nil {
			return nil, fmt.Errorf("agnhost binary: %w", err)
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
		return busyboxImage(b, f, cfg, tools, step, Step{CreatedBy: `ENTRYPOINT ["/agnhost"]`}, Step{CreatedBy: `CMD ["pause"]`})
	}
}

// toolsStep is a layer of host executables (image path -> host path) and
// the shared libraries each loads, at their host paths.
func toolsStep(tools map[string]string) (Step, error) {
	lb := NewLayer()
	paths := make([]string, 0, len(tools))
	for p := range tools {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	seen := map[string]bool{}
	for _, p := range paths {
		host := tools[p]
		data, err := os.ReadFile(host)
		if err != nil {
			return Step{}, fmt.Errorf("agnhost tool %s (apt-get install curl netcat-openbsd bind9-dnsutils): %w", host, err)
		}
		lb.File(p, data, 0o755, 0, 0)
		libs, err := sharedLibs(host)
		if err != nil {
			return Step{}, err
		}
		for _, l := range libs {
			if seen[l] {
				continue
			}
			seen[l] = true
			data, err := os.ReadFile(l)
			if err != nil {
				return Step{}, fmt.Errorf("read shared library %s: %w", l, err)
			}
			lb.File(l, data, 0o755, 0, 0)
		}
	}
	return LayerStep("RUN apk --update add "+strings.Join(paths, " "), lb)
}
