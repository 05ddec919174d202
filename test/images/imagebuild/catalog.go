package imagebuild

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Spec describes one image of the catalog under its upstream name.
type Spec struct {
	// Ref is the upstream reference, always with a tag:
	// "registry.k8s.io/e2e-test-images/busybox:1.29-2".
	Ref string
	// Contents says what the image holds and how it behaves.
	Contents string
	// Format selects OCI or Docker media types.
	Format Format
	// MultiArch wraps the image in an index with a linux/arm64 stub.
	MultiArch bool
	// UpstreamDigest is set when a test pins the upstream image by digest; a
	// rebuild can never have that digest (see README.md).
	UpstreamDigest string
	// Recipe builds the linux/amd64 image.
	Recipe func(b *Builder, f Format) (v1.Image, error)
	// Artifact marks an OCI artifact (no platform, no runnable config,
	// layers that are plain files): Recipe builds the artifact.
	Artifact bool
}

// Host is the upstream registry host of the spec ("docker.io" for Docker Hub).
func (s Spec) Host() string {
	host, _, _ := splitRef(s.Ref)
	return host
}

// Repository is the repository path below the host, as pushed to a mirror:
// "e2e-test-images/busybox", "library/busybox".
func (s Spec) Repository() string {
	_, repo, _ := splitRef(s.Ref)
	return repo
}

// Tag is the tag of the spec.
func (s Spec) Tag() string {
	_, _, tag := splitRef(s.Ref)
	return tag
}

// MirrorRef is where the spec is pushed on a registry at registryHost.
func (s Spec) MirrorRef(registryHost string) string {
	return registryHost + "/" + s.Repository() + ":" + s.Tag()
}

// splitRef splits a fully qualified, tagged reference, applying Docker Hub's
// normalisation (a single-component path gets "library/").
func splitRef(ref string) (host, repo, tag string) {
	host, rest, _ := strings.Cut(ref, "/")
	repo, tag = rest, "latest"
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		repo, tag = rest[:i], rest[i+1:]
	}
	if host == "docker.io" && !strings.Contains(repo, "/") {
		repo = "library/" + repo
	}
	return host, repo, tag
}

// Lookup returns the catalog spec with the given upstream reference.
func Lookup(ref string) (Spec, bool) {
	for _, s := range Catalog() {
		if s.Ref == ref {
			return s, true
		}
	}
	return Spec{}, false
}

const (
	e2e      = "registry.k8s.io/e2e-test-images/"
	critools = "gcr.io/k8s-staging-cri-tools/"

	// digestPinnedByCritest is what critest v1.37.0 pulls as
	// gcr.io/k8s-staging-cri-tools/test-image-digest@<digest>.
	digestPinnedByCritest = "sha256:9700f9a2f5bf2c45f2f605a0bd3bce7cf37420ec9d3ed50ac2758413308766bf"
)

// Catalog lists every image, in a stable order. The names and tags are those
// critest v1.37.0 pulls (pkg/validate/consts.go, pkg/framework/util.go) plus
// docker.io/library/busybox:latest for Cricket's own tests and benchmarks.
func Catalog() []Spec {
	specs := []Spec{
		{Ref: e2e + "busybox:1.29-2", Format: Docker, Recipe: busybox,
			Contents: "busybox shell (Cmd sh); critest's default image: applets are hard links in /bin, plus ipcs and pgrep stand-ins"},
		{Ref: e2e + "nginx:1.14-2", Format: Docker, Recipe: nginx("1.14.2", "80", "SIGTERM"),
			Contents: "nginx stand-in: master process \"nginx: master process nginx -g daemon off;\" writing /var/run/nginx.pid, busybox httpd worker serving /usr/share/nginx/html on :80"},
		{Ref: e2e + "httpd:2.4.39-4", Format: Docker, Recipe: httpd,
			Contents: "httpd-foreground: logs a line with \"httpd\", busybox httpd serves /usr/local/apache2/htdocs on :80; StopSignal SIGWINCH"},
		{Ref: e2e + "nonewprivs:1.3", Format: Docker, Recipe: nonewprivs,
			Contents: "Cmd nnp: setuid-root /usr/local/bin/nnp prints \"Effective uid: N\" (0 unless no_new_privs)"},
		{Ref: critools + "hostnet-nginx-amd64:latest", Recipe: nginx("1.25.0", "12003", "SIGQUIT"),
			Contents: "nginx stand-in listening on :12003 (for host-network pods)"},
		{Ref: critools + "hostnet-nginx:latest", MultiArch: true, Recipe: nginx("1.25.0", "12003", "SIGQUIT"),
			Contents: "index: hostnet-nginx-amd64 + arm64 stub"},
		{Ref: critools + "test-image-predefined-group:latest", Recipe: predefinedGroup,
			Contents: "USER 1000; default-user(1000:1000) is a member of group-defined-in-image(50000) in /etc/group"},
	}
	for _, u := range []struct{ name, user string }{
		{"test-image-user-uid", "1002"},
		{"test-image-user-username", "www-data"},
		{"test-image-user-uid-group", "1003:1004"},
		{"test-image-user-username-group", "www-data:1004"},
	} {
		specs = append(specs, Spec{Ref: critools + u.name + ":latest", Recipe: withUser(u.user),
			Contents: "busybox with USER " + u.user})
	}
	for _, n := range []string{"test-image-1", "test-image-2", "test-image-3", "test-image-latest"} {
		specs = append(specs, Spec{Ref: critools + n + ":latest", Recipe: marker("/"+n, ""),
			Contents: "busybox plus empty file /" + n + " (distinct image per name)"})
	}
	specs = append(specs,
		Spec{Ref: critools + "test-image-digest:latest", Recipe: marker("/test-image-digest", ""), UpstreamDigest: digestPinnedByCritest,
			Contents: "busybox plus /test-image-digest; critest pulls it by the upstream digest " + digestPinnedByCritest + ", which no rebuild can match"},
		Spec{Ref: critools + "test-image-tag:test", Recipe: marker("/test-image-tag", "test\n"),
			Contents: "busybox plus /test-image-tag containing \"test\""},
		Spec{Ref: critools + "test-image-tag:all", Recipe: marker("/test-image-tag", "all\n"),
			Contents: "busybox plus /test-image-tag containing \"all\" (distinct from :test)"},
	)
	for _, t := range []string{"1", "2", "3"} {
		specs = append(specs, Spec{Ref: critools + "test-image-tags:" + t, MultiArch: true, Recipe: marker("/same-image", ""),
			Contents: "index: busybox plus /same-image + arm64 stub; tags 1, 2 and 3 are the SAME image (critest expects one ID with 3 repo tags)"})
	}
	for _, v := range []string{"3.9", "3.10", "3.10.1", "3.10.2"} {
		specs = append(specs, Spec{Ref: "registry.k8s.io/pause:" + v, MultiArch: true, Recipe: pause(v),
			Contents: "index: /pause " + v + " (sleeps until SIGTERM/SIGINT, reaps zombies), USER 65535:65535 + arm64 stub; distinct content per tag"})
	}
	specs = append(specs,
		Spec{Ref: "k8s.gcr.io/pause:3.9", MultiArch: true, Recipe: pause("3.9"),
			Contents: "identical to registry.k8s.io/pause:3.9 (critest expects one image ID for both names)"},
		Spec{Ref: "docker.io/library/busybox:latest", MultiArch: true, Recipe: labeledBusybox,
			Contents: "index: busybox (same layers as e2e-test-images/busybox, own image ID) + arm64 stub, for Cricket's own tests and benchmarks"},
		Spec{Ref: ArtifactRef, Artifact: true, Recipe: testArtifact,
			Contents: "OCI artifact (KEP-4639 image volume): config " + ArtifactConfigType + ", text/plain layers README.md and data/notes.txt (a title with a slash: named by digest) titled by org.opencontainers.image.title"},
	)
	return specs
}

func baseConfig() v1.Config {
	return v1.Config{Cmd: []string{"sh"}, Env: []string{DefaultPath}}
}

func busyboxImage(b *Builder, f Format, cfg v1.Config, extra ...Step) (v1.Image, error) {
	steps, err := b.BusyboxSteps()
	if err != nil {
		return nil, err
	}
	steps = append(steps, Step{CreatedBy: `CMD ["sh"]`})
	return b.Image(f, cfg, append(steps, extra...)...)
}

func busybox(b *Builder, f Format) (v1.Image, error) {
	return busyboxImage(b, f, baseConfig())
}

// labeledBusybox shares every layer with the e2e busybox image but has a
// config of its own, so that the two names are two images (two IDs).
func labeledBusybox(b *Builder, f Format) (v1.Image, error) {
	cfg := baseConfig()
	cfg.Labels = map[string]string{"org.opencontainers.image.title": "busybox", "org.opencontainers.image.description": "cricket test image"}
	return busyboxImage(b, f, cfg, Step{CreatedBy: "LABEL org.opencontainers.image.title=busybox"})
}

func withUser(user string) func(*Builder, Format) (v1.Image, error) {
	return func(b *Builder, f Format) (v1.Image, error) {
		cfg := baseConfig()
		cfg.User = user
		return busyboxImage(b, f, cfg, Step{CreatedBy: "USER " + user})
	}
}

func marker(path, content string) func(*Builder, Format) (v1.Image, error) {
	return func(b *Builder, f Format) (v1.Image, error) {
		step, err := LayerStep("ADD "+path+" "+path, NewLayer().File(path, []byte(content), 0o644, 0, 0))
		if err != nil {
			return nil, err
		}
		return busyboxImage(b, f, baseConfig(), step)
	}
}

func predefinedGroup(b *Builder, f Format) (v1.Image, error) {
	lb := NewLayer().
		File("/etc/passwd", []byte(basePasswd+"default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh\n"), 0o644, 0, 0).
		File("/etc/group", []byte(baseGroup+"default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n"), 0o644, 0, 0).
		File("/etc/shadow", []byte(baseShadow+"default-user:!::0:99999:7:::\n"), 0o640, 0, 0).
		Dir("/home/default-user", 0o755, 1000, 1000)
	step, err := LayerStep("RUN adduser -u 1000 -D default-user && addgroup -g 50000 group-defined-in-image && addgroup default-user group-defined-in-image", lb)
	if err != nil {
		return nil, err
	}
	cfg := baseConfig()
	cfg.User = "1000"
	return busyboxImage(b, f, cfg, step, Step{CreatedBy: "USER 1000"})
}

func nginx(version, port, stopSignal string) func(*Builder, Format) (v1.Image, error) {
	return func(b *Builder, f Format) (v1.Image, error) {
		bin, err := b.Standin("nginx", "")
		if err != nil {
			return nil, err
		}
		conf := fmt.Sprintf("server {\n    listen       %s;\n    server_name  localhost;\n\n    location / {\n        root   /usr/share/nginx/html;\n        index  index.html index.htm;\n    }\n}\n", port)
		lb := NewLayer().
			File("/usr/sbin/nginx", bin, 0o755, 0, 0).
			File("/etc/nginx/nginx.conf", []byte("# cricket test stand-in: only conf.d/*.conf \"listen\" and \"root\" are read\ninclude /etc/nginx/conf.d/*.conf;\n"), 0o644, 0, 0).
			File("/etc/nginx/conf.d/default.conf", []byte(conf), 0o644, 0, 0).
			File("/usr/share/nginx/html/index.html", []byte("<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n<body><h1>Welcome to nginx!</h1><p>cricket test stand-in for nginx "+version+".</p></body></html>\n"), 0o644, 0, 0).
			Dir("/var/log/nginx", 0o755, 0, 0).
			Dir("/var/cache/nginx", 0o755, 0, 0)
		step, err := LayerStep("COPY nginx stand-in, /etc/nginx, /usr/share/nginx/html # nginx "+version, lb)
		if err != nil {
			return nil, err
		}
		cfg := v1.Config{
			Cmd:          []string{"nginx", "-g", "daemon off;"},
			Env:          []string{DefaultPath, "NGINX_VERSION=" + version},
			ExposedPorts: map[string]struct{}{"80/tcp": {}},
			StopSignal:   stopSignal,
		}
		return busyboxImage(b, f, cfg, step, Step{CreatedBy: "EXPOSE 80/tcp"}, Step{CreatedBy: "STOPSIGNAL " + stopSignal},
			Step{CreatedBy: `CMD ["nginx" "-g" "daemon off;"]`})
	}
}

func httpd(b *Builder, f Format) (v1.Image, error) {
	script, err := scripts.ReadFile("scripts/httpd-foreground")
	if err != nil {
		return nil, fmt.Errorf("read httpd-foreground: %w", err)
	}
	lb := NewLayer().
		File("/usr/local/bin/httpd-foreground", script, 0o755, 0, 0).
		Dir("/usr/local/apache2/bin", 0o755, 0, 0).
		Dir("/usr/local/apache2/logs", 0o755, 0, 0).
		File("/usr/local/apache2/htdocs/index.html", []byte("<html><body><h1>It works!</h1></body></html>\n"), 0o644, 0, 0)
	step, err := LayerStep("COPY httpd-foreground /usr/local/bin/ && COPY htdocs /usr/local/apache2/htdocs", lb)
	if err != nil {
		return nil, err
	}
	cfg := v1.Config{
		Cmd:          []string{"httpd-foreground"},
		Env:          []string{"PATH=/usr/local/apache2/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HTTPD_PREFIX=/usr/local/apache2", "HTTPD_VERSION=2.4.39"},
		WorkingDir:   "/usr/local/apache2",
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
		StopSignal:   "SIGWINCH",
	}
	return busyboxImage(b, f, cfg, step, Step{CreatedBy: "WORKDIR /usr/local/apache2"}, Step{CreatedBy: "EXPOSE 80"},
		Step{CreatedBy: "STOPSIGNAL SIGWINCH"}, Step{CreatedBy: `CMD ["httpd-foreground"]`})
}

func nonewprivs(b *Builder, f Format) (v1.Image, error) {
	bin, err := b.Standin("nnp", "")
	if err != nil {
		return nil, err
	}
	step, err := LayerStep("COPY nnp /usr/local/bin/nnp && chmod +s /usr/local/bin/nnp", NewLayer().File("/usr/local/bin/nnp", bin, 0o4755, 0, 0))
	if err != nil {
		return nil, err
	}
	cfg := v1.Config{Cmd: []string{"nnp"}, Env: []string{DefaultPath}}
	return busyboxImage(b, f, cfg, step, Step{CreatedBy: `CMD ["nnp"]`})
}

func pause(version string) func(*Builder, Format) (v1.Image, error) {
	return func(b *Builder, f Format) (v1.Image, error) {
		bin, err := b.Standin("pause", version)
		if err != nil {
			return nil, err
		}
		step, err := LayerStep("ADD pause /pause # "+version, NewLayer().File("/pause", bin, 0o755, 0, 0))
		if err != nil {
			return nil, err
		}
		cfg := v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535", WorkingDir: "/", Env: []string{DefaultPath}}
		return b.Image(f, cfg, step, Step{CreatedBy: "USER 65535:65535"}, Step{CreatedBy: `ENTRYPOINT ["/pause"]`})
	}
}
