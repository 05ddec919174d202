package imagebuild

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestBuildEveryCatalogImage(t *testing.T) {
	for _, spec := range Catalog() {
		t.Run(spec.Ref, func(t *testing.T) {
			a := buildSpec(t, spec)
			mt, err := a.MediaType()
			if err != nil {
				t.Fatal(err)
			}
			if spec.Artifact {
				checkArtifact(t, a, mt)
				return
			}
			want := spec.Format.manifest()
			if spec.MultiArch {
				want = spec.Format.index()
			}
			if mt != want {
				t.Errorf("media type %s, want %s", mt, want)
			}
			img := platformImage(t, a)
			cf := configOf(t, img)
			if cf.OS != "linux" || cf.Architecture != "amd64" {
				t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
			}
			if len(cf.Config.Entrypoint)+len(cf.Config.Cmd) == 0 {
				t.Error("image has neither Entrypoint nor Cmd")
			}
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			if len(layers) == 0 || len(cf.RootFS.DiffIDs) != len(layers) {
				t.Errorf("%d layers, %d diff IDs", len(layers), len(cf.RootFS.DiffIDs))
			}
			if spec.MultiArch {
				checkIndex(t, a)
			}
		})
	}
}

// checkArtifact: an OCI manifest with a non-image config and one text
// layer per file, each with its title annotation.
func checkArtifact(t *testing.T, a Artifact, mt types.MediaType) {
	t.Helper()
	m, err := a.Image.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if mt != types.OCIManifestSchema1 || m.Config.MediaType != ArtifactConfigType || len(m.Layers) != len(ArtifactFiles) {
		t.Fatalf("artifact manifest %s: config %s, %d layers", mt, m.Config.MediaType, len(m.Layers))
	}
	for i, l := range m.Layers {
		if l.MediaType != "text/plain" || l.Annotations["org.opencontainers.image.title"] != ArtifactFiles[i].Title {
			t.Errorf("layer %d: %s %v", i, l.MediaType, l.Annotations)
		}
	}
}

func checkIndex(t *testing.T, a Artifact) {
	t.Helper()
	im, err := a.Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	archs := map[string]bool{}
	for _, d := range im.Manifests {
		if d.Platform == nil {
			t.Fatalf("index entry %s has no platform", d.Digest)
		}
		archs[d.Platform.Architecture] = true
		img, err := a.Index.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if cf := configOf(t, img); cf.Architecture != d.Platform.Architecture {
			t.Errorf("entry for %s has a config for %s", d.Platform.Architecture, cf.Architecture)
		}
	}
	if len(im.Manifests) != 2 || !archs["amd64"] || !archs["arm64"] {
		t.Errorf("index platforms %v, want amd64 and arm64", archs)
	}
}

func TestBusyboxAppletsAreHardLinks(t *testing.T) {
	img := platformImage(t, buildSpec(t, mustSpec(t, e2e+"busybox:1.29-2")))
	hdrs, data := imageFiles(t, img)
	if h := hdrs["bin/busybox"]; h == nil || h.Typeflag != tar.TypeReg {
		t.Fatal("bin/busybox is missing or not a regular file")
	}
	for _, applet := range []string{"sh", "ls", "top", "id", "sleep", "pidof", "ping", "httpd", "awk", "netstat", "brctl", "hostname", "touch", "wget"} {
		h := hdrs["bin/"+applet]
		if h == nil {
			t.Errorf("bin/%s missing", applet)
			continue
		}
		if h.Typeflag != tar.TypeLink || h.Linkname != "bin/busybox" {
			t.Errorf("bin/%s is type %c -> %q, want a hard link to bin/busybox", applet, h.Typeflag, h.Linkname)
		}
	}
	for name, h := range hdrs {
		if h.Typeflag == tar.TypeSymlink {
			t.Errorf("%s is a symlink; the base layers must not contain any", name)
		}
	}
	if h := hdrs["bin/nmeter"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 || !strings.HasPrefix(string(data["bin/nmeter"]), "\x7fELF") {
		t.Error("bin/nmeter is not the compiled stand-in")
	}
	for _, s := range []string{"ipcs", "pgrep"} {
		h := hdrs["bin/"+s]
		if h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 || !strings.HasPrefix(string(data["bin/"+s]), "#!/bin/sh") {
			t.Errorf("bin/%s is not an executable shell stand-in", s)
		}
	}
	if !strings.Contains(string(data["etc/passwd"]), "www-data:x:33:33:") || !strings.Contains(string(data["etc/passwd"]), "nobody:x:65534:") {
		t.Errorf("etc/passwd lacks www-data or nobody:\n%s", data["etc/passwd"])
	}
	if h := hdrs["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Error("tmp is missing or not 1777")
	}
	interp := elfInterpreter(t, DefaultBusybox)
	if interp != "" && hdrs[strings.TrimPrefix(interp, "/")] == nil {
		t.Errorf("ELF interpreter %s of busybox is not in the image", interp)
	}
}

func elfInterpreter(t *testing.T, path string) string {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				t.Fatal(err)
			}
			return strings.TrimRight(string(b), "\x00")
		}
	}
	return ""
}

func TestImageIDs(t *testing.T) {
	// Groups whose members must share one image ID (config digest); every
	// other pair of catalog entries must differ.
	same := [][]string{
		{critools + "test-image-tags:1", critools + "test-image-tags:2", critools + "test-image-tags:3"},
		{"registry.k8s.io/pause:3.9", "k8s.gcr.io/pause:3.9"},
		{critools + "hostnet-nginx-amd64:latest", critools + "hostnet-nginx:latest"},
	}
	group := map[string]int{}
	for i, g := range same {
		for _, ref := range g {
			group[ref] = i + 1
		}
	}
	ids := map[string]string{}
	for _, spec := range Catalog() {
		id, err := platformImage(t, buildSpec(t, spec)).ConfigName()
		if err != nil {
			t.Fatal(err)
		}
		ids[spec.Ref] = id.String()
	}
	specs := Catalog()
	for i, a := range specs {
		for _, b := range specs[i+1:] {
			wantSame := group[a.Ref] != 0 && group[a.Ref] == group[b.Ref]
			if gotSame := ids[a.Ref] == ids[b.Ref]; gotSame != wantSame {
				t.Errorf("%s and %s: same ID = %v, want %v", a.Ref, b.Ref, gotSame, wantSame)
			}
		}
	}
	// Tags of one image must also share the manifest digest.
	d1, _ := buildSpec(t, mustSpec(t, critools+"test-image-tags:1")).Digest()
	d3, _ := buildSpec(t, mustSpec(t, critools+"test-image-tags:3")).Digest()
	if d1 != d3 {
		t.Errorf("test-image-tags:1 and :3 have manifest digests %s and %s", d1, d3)
	}
}

func TestImageContents(t *testing.T) {
	for _, tc := range []struct {
		desc, ref string
		user      string
		files     map[string]string // path -> substring of content
		check     func(t *testing.T, hdrs map[string]*tar.Header)
	}{
		{desc: "uid", ref: critools + "test-image-user-uid:latest", user: "1002"},
		{desc: "username", ref: critools + "test-image-user-username:latest", user: "www-data",
			files: map[string]string{"etc/passwd": "www-data:x:33:33:"}},
		{desc: "uid and group", ref: critools + "test-image-user-uid-group:latest", user: "1003:1004"},
		{desc: "username and group", ref: critools + "test-image-user-username-group:latest", user: "www-data:1004"},
		{desc: "predefined group", ref: critools + "test-image-predefined-group:latest", user: "1000",
			files: map[string]string{
				"etc/passwd": "default-user:x:1000:1000:",
				"etc/group":  "group-defined-in-image:x:50000:default-user",
			}},
		{desc: "nonewprivs", ref: e2e + "nonewprivs:1.3",
			check: func(t *testing.T, hdrs map[string]*tar.Header) {
				h := hdrs["usr/local/bin/nnp"]
				if h == nil || h.Mode&0o4000 == 0 || h.Uid != 0 {
					t.Errorf("usr/local/bin/nnp is not setuid root: %+v", h)
				}
			}},
		{desc: "nginx", ref: e2e + "nginx:1.14-2",
			files: map[string]string{"etc/nginx/conf.d/default.conf": "listen       80;", "usr/share/nginx/html/index.html": "Welcome to nginx!"}},
		{desc: "hostnet nginx", ref: critools + "hostnet-nginx-amd64:latest",
			files: map[string]string{"etc/nginx/conf.d/default.conf": "listen       12003;"}},
		{desc: "httpd", ref: e2e + "httpd:2.4.39-4",
			files: map[string]string{"usr/local/bin/httpd-foreground": "httpd -f"}},
		{desc: "tag test", ref: critools + "test-image-tag:test", files: map[string]string{"test-image-tag": "test"}},
		{desc: "tag all", ref: critools + "test-image-tag:all", files: map[string]string{"test-image-tag": "all"}},
		{desc: "pause", ref: "registry.k8s.io/pause:3.10", user: "65535:65535",
			check: func(t *testing.T, hdrs map[string]*tar.Header) {
				if len(hdrs) != 1 || hdrs["pause"] == nil {
					t.Errorf("pause image should hold only /pause, has %d entries", len(hdrs))
				}
			}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			img := platformImage(t, buildSpec(t, mustSpec(t, tc.ref)))
			if got := configOf(t, img).Config.User; got != tc.user {
				t.Errorf("User = %q, want %q", got, tc.user)
			}
			hdrs, data := imageFiles(t, img)
			for p, want := range tc.files {
				if !strings.Contains(string(data[p]), want) {
					t.Errorf("%s does not contain %q:\n%s", p, want, data[p])
				}
			}
			if tc.check != nil {
				tc.check(t, hdrs)
			}
		})
	}
}

func TestImageConfigs(t *testing.T) {
	for _, tc := range []struct {
		desc, ref, stopSignal, workingDir string
		cmd, entrypoint                   []string
		port                              string
	}{
		{desc: "busybox", ref: e2e + "busybox:1.29-2", cmd: []string{"sh"}},
		{desc: "nginx", ref: e2e + "nginx:1.14-2", cmd: []string{"nginx", "-g", "daemon off;"}, stopSignal: "SIGTERM", port: "80/tcp"},
		{desc: "hostnet nginx", ref: critools + "hostnet-nginx-amd64:latest", cmd: []string{"nginx", "-g", "daemon off;"}, stopSignal: "SIGQUIT", port: "80/tcp"},
		{desc: "httpd", ref: e2e + "httpd:2.4.39-4", cmd: []string{"httpd-foreground"}, stopSignal: "SIGWINCH", workingDir: "/usr/local/apache2", port: "80/tcp"},
		{desc: "nonewprivs", ref: e2e + "nonewprivs:1.3", cmd: []string{"nnp"}},
		{desc: "pause", ref: "registry.k8s.io/pause:3.9", entrypoint: []string{"/pause"}, workingDir: "/"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := configOf(t, platformImage(t, buildSpec(t, mustSpec(t, tc.ref)))).Config
			if strings.Join(cfg.Cmd, "|") != strings.Join(tc.cmd, "|") || strings.Join(cfg.Entrypoint, "|") != strings.Join(tc.entrypoint, "|") {
				t.Errorf("Entrypoint %q Cmd %q, want %q %q", cfg.Entrypoint, cfg.Cmd, tc.entrypoint, tc.cmd)
			}
			if cfg.StopSignal != tc.stopSignal || cfg.WorkingDir != tc.workingDir {
				t.Errorf("StopSignal %q WorkingDir %q, want %q %q", cfg.StopSignal, cfg.WorkingDir, tc.stopSignal, tc.workingDir)
			}
			if _, ok := cfg.ExposedPorts[tc.port]; tc.port != "" && !ok {
				t.Errorf("ExposedPorts %v lacks %s", cfg.ExposedPorts, tc.port)
			}
			if len(cfg.Env) == 0 || !strings.HasPrefix(cfg.Env[0], "PATH=") {
				t.Errorf("Env %q does not start with PATH", cfg.Env)
			}
		})
	}
}

func TestBaseLayersAreShared(t *testing.T) {
	first := func(ref string) []string {
		layers, err := platformImage(t, buildSpec(t, mustSpec(t, ref))).Layers()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range layers[:2] {
			d, _ := l.Digest()
			out = append(out, d.String())
		}
		return out
	}
	a, b := first(e2e+"nginx:1.14-2"), first(critools+"test-image-1:latest")
	if a[0] != b[0] || a[1] != b[1] {
		t.Errorf("nginx and test-image-1 base layers differ: %v vs %v", a, b)
	}
}

func TestBuildIsReproducible(t *testing.T) {
	spec := mustSpec(t, "registry.k8s.io/pause:3.10.1")
	a, err := Build(spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := buildSpec(t, spec).Digest()
	if da != db {
		t.Errorf("two builds of %s: %s and %s", spec.Ref, da, db)
	}
}

func TestDockerAndOCIFormats(t *testing.T) {
	img := platformImage(t, buildSpec(t, mustSpec(t, e2e+"busybox:1.29-2")))
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.DockerConfigJSON || m.Layers[0].MediaType != types.DockerLayer {
		t.Errorf("docker image has config %s, layer %s", m.Config.MediaType, m.Layers[0].MediaType)
	}
	img = platformImage(t, buildSpec(t, mustSpec(t, critools+"test-image-1:latest")))
	if m, err = img.Manifest(); err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.OCIConfigJSON || m.Layers[0].MediaType != types.OCILayer {
		t.Errorf("OCI image has config %s, layer %s", m.Config.MediaType, m.Layers[0].MediaType)
	}
}

func TestMissingBusyboxSaysWhatToInstall(t *testing.T) {
	_, err := NewBuilder(Options{BusyboxPath: "/nonexistent/busybox"})
	if err == nil || !strings.Contains(err.Error(), "apt-get install busybox") {
		t.Fatalf("error %v does not tell to apt-get install busybox", err)
	}
}

func TestStaticBusyboxIsRefused(t *testing.T) {
	// The stand-ins are static Go binaries: compile one to stand in for a
	// static busybox.
	bin, err := testBuilder(t).Standin("nnp", "")
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/busybox"
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := NewBuilder(Options{BusyboxPath: path}); err == nil || !strings.Contains(err.Error(), "statically linked") {
		t.Errorf("static busybox: error %v, want a statically-linked refusal", err)
	}
	if _, err := NewBuilder(Options{BusyboxPath: path, AllowStaticBusybox: true}); err != nil {
		t.Errorf("AllowStaticBusybox: %v", err)
	}
}

func TestPrebuiltStandinsNeedNoGoToolchain(t *testing.T) {
	b := testBuilder(t)
	want, err := b.Standin("pause", "3.10")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := b.WriteStandins(dir); err != nil {
		t.Fatal(err)
	}
	// A go tool that cannot run and no sources: only the directory serves.
	pre, err := NewBuilder(Options{StandinsBinDir: dir, GoTool: "/nonexistent/go", StandinsDir: "/nonexistent"})
	if err != nil {
		t.Fatalf("NewBuilder with prebuilt stand-ins: %v", err)
	}
	got, err := pre.Standin("pause", "3.10")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("prebuilt pause@3.10 is not the compiled one (%d vs %d bytes)", len(got), len(want))
	}
	if _, err := pre.Standin("pause", "0.0-missing"); err == nil {
		t.Error("a stand-in missing from the directory was not reported")
	}
	if _, err := NewBuilder(Options{StandinsBinDir: dir + "/missing"}); err == nil {
		t.Error("a missing prebuilt directory was not reported")
	}
}

func TestStandinsGiveWayToRealApplets(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		applets string
		standin map[string]bool // path -> whether a stand-in is expected there
	}{
		{desc: "Debian's busybox lacks the three", applets: "sh ls", standin: map[string]bool{"bin/nmeter": true, "bin/ipcs": true, "bin/pgrep": true}},
		{desc: "upstream's busybox has them", applets: "sh ls nmeter ipcs pgrep", standin: map[string]bool{"bin/nmeter": false, "bin/ipcs": false, "bin/pgrep": false}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			// busyboxLayer only reads the binary and runs its --list.
			fake := t.TempDir() + "/busybox"
			if err := os.WriteFile(fake, []byte("#!/bin/sh\necho busybox "+tc.applets+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			b := &Builder{opts: Options{BusyboxPath: fake}}
			lb, err := b.busyboxLayer([]byte("\x7fELF nmeter"))
			if err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			types := map[string]byte{}
			for _, e := range lb.entries {
				count[e.hdr.Name]++
				types[e.hdr.Name] = e.hdr.Typeflag
			}
			for name, n := range count {
				if n > 1 {
					t.Errorf("%s has %d entries: a later one is written through the first's hard link", name, n)
				}
			}
			for p, want := range tc.standin {
				if got := types[p] == tar.TypeReg; got != want {
					t.Errorf("%s: regular file (stand-in) %v, want %v (type %c)", p, got, want, types[p])
				}
				if types[p] == 0 {
					t.Errorf("%s missing", p)
				}
			}
		})
	}
}
