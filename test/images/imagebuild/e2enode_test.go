package imagebuild

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestNodeE2ECatalog builds the node e2e image set around a stand-in
// agnhost binary: the agnhost images run /agnhost with the upstream
// Dockerfile's layout, and every image is under the tag Kubernetes v1.37's
// test/utils/image names.
func TestNodeE2ECatalog(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "agnhost")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho agnhost\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost.crt", "localhost.key"} {
		if err := os.WriteFile(filepath.Join(filepath.Dir(bin), name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	specs := NodeE2ECatalog(bin)
	var refs []string
	b := testBuilder(t)
	for _, s := range specs {
		refs = append(refs, s.Ref)
		if _, ok := Lookup(s.Ref); ok {
			t.Errorf("%s is in both catalogs", s.Ref)
		}
		if _, err := b.Build(s); err != nil {
			t.Errorf("build %s: %v", s.Ref, err)
		}
	}
	for _, want := range []string{"agnhost:2.66.1", "agnhost:2.55", "busybox:1.37.0-2", "nginx:1.27.0-2", "nonewprivs:1.4", "nonroot:1.5"} {
		if !slices.Contains(refs, "registry.k8s.io/e2e-test-images/"+want) {
			t.Errorf("node e2e catalog lacks %s", want)
		}
	}
	art, err := b.Build(specs[0])
	if err != nil {
		t.Fatal(err)
	}
	img := platformImage(t, art)
	cf := configOf(t, img)
	if !slices.Equal(cf.Config.Entrypoint, []string{"/agnhost"}) || !slices.Equal(cf.Config.Cmd, []string{"pause"}) {
		t.Errorf("agnhost entrypoint %q cmd %q, want [/agnhost] [pause]", cf.Config.Entrypoint, cf.Config.Cmd)
	}
	hdrs, data := imageFiles(t, img)
	if string(data["agnhost"]) != "#!/bin/sh\necho agnhost\n" || hdrs["agnhost"].Mode&0o111 == 0 {
		t.Errorf("/agnhost is not the given executable: mode %o", hdrs["agnhost"].Mode)
	}
	if hdrs["agnhost-2"] == nil || hdrs["agnhost-2"].Linkname != "agnhost" {
		t.Error("/agnhost-2 is not a symlink to agnhost")
	}
	if !strings.Contains(string(data["etc/group"]), "group-defined-in-image:x:50000:user-defined-in-image") {
		t.Errorf("/etc/group lacks group-defined-in-image:\n%s", data["etc/group"])
	}
	if hdrs["bin/sh"] == nil {
		t.Error("agnhost image has no /bin/sh")
	}
	// curl, nc, dig and getent, which the suites' network and DNS checks
	// run in agnhost pods, and /bin/bash, which the probe specs run, each
	// with every library it loads; the porter's certificate and key.
	for image, tool := range map[string]string{"/usr/bin/curl": "/usr/bin/curl", "/usr/bin/nc": "/usr/bin/nc",
		"/usr/bin/dig": "/usr/bin/dig", "/usr/bin/getent": "/usr/bin/getent", "/bin/bash": "/usr/bin/bash"} {
		if h := hdrs[strings.TrimPrefix(image, "/")]; h == nil || h.Mode&0o111 == 0 {
			t.Errorf("agnhost image has no executable %s", image)
		}
		libs, err := sharedLibs(tool)
		if err != nil || len(libs) == 0 {
			t.Fatalf("libraries of %s: %v %v", tool, libs, err)
		}
		for _, l := range libs {
			if hdrs[strings.TrimPrefix(l, "/")] == nil {
				t.Errorf("agnhost image lacks %s, which %s loads", l, tool)
			}
		}
	}
	if string(data["localhost.crt"]) != "localhost.crt" || string(data["localhost.key"]) != "localhost.key" {
		t.Error("agnhost image lacks the porter's /localhost.crt and /localhost.key")
	}
	if _, err := b.Build(NodeE2ECatalog(filepath.Join(t.TempDir(), "missing"))[0]); err == nil {
		t.Error("a missing agnhost binary built an image")
	}
}

// TestGlibcDNSTestingSpec: the image is the given root file system, one
// layer, and a missing tar is an error that names the script that makes it.
func TestGlibcDNSTestingSpec(t *testing.T) {
	lb := NewLayer().Dir("/bin", 0o755, 0, 0).File("/bin/hostname", []byte("ELF"), 0o755, 0, 0)
	data, err := lb.Tar()
	if err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(rootfs, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b := testBuilder(t)
	spec := GlibcDNSTestingSpec(rootfs)
	if spec.Ref != e2e+"glibc-dns-testing:2.1.1" {
		t.Errorf("ref %s", spec.Ref)
	}
	art, err := b.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	img := platformImage(t, art)
	hdrs, files := imageFiles(t, img)
	if string(files["bin/hostname"]) != "ELF" || hdrs["bin/hostname"].Mode&0o111 == 0 {
		t.Errorf("image lacks the root file system's /bin/hostname: %v", hdrs)
	}
	if _, err := b.Build(GlibcDNSTestingSpec(filepath.Join(t.TempDir(), "missing.tar"))); err == nil || !strings.Contains(err.Error(), "glibc-dns.sh") {
		t.Errorf("missing root file system: %v", err)
	}
}
