// Package imagebuild builds the container images that Cricket's tests and
// benchmarks pull — the images critest (sigs.k8s.io/cri-tools v1.37.0) uses,
// under their upstream names — entirely offline, from the host's busybox and
// a few stand-in programs, and serves them from an in-process registry on
// 127.0.0.1. See test/images/README.md for the catalog and the host mapping.
package imagebuild

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultBusybox is the busybox binary used when Options.BusyboxPath is empty:
// Debian's dynamically linked busybox (package "busybox"). Debian's
// busybox-static runs applets such as ls as shell builtins, which hides
// masked paths from the conformance specs, so the dynamic one is wanted.
const DefaultBusybox = "/bin/busybox"

// DefaultPath is the PATH of every busybox-based image.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Format selects the manifest and config media types of an image.
type Format int

const (
	// OCI images use the OCI image-spec media types.
	OCI Format = iota
	// Docker images use the Docker schema 2 media types, as the upstream
	// registry.k8s.io/e2e-test-images images do.
	Docker
)

func (f Format) String() string {
	if f == Docker {
		return "docker"
	}
	return "oci"
}

func (f Format) manifest() types.MediaType {
	if f == Docker {
		return types.DockerManifestSchema2
	}
	return types.OCIManifestSchema1
}

func (f Format) config() types.MediaType {
	if f == Docker {
		return types.DockerConfigJSON
	}
	return types.OCIConfigJSON
}

func (f Format) layer() types.MediaType {
	if f == Docker {
		return types.DockerLayer
	}
	return types.OCILayer
}

func (f Format) index() types.MediaType {
	if f == Docker {
		return types.DockerManifestList
	}
	return types.OCIImageIndex
}

// Options configures a Builder. The zero value is usable.
type Options struct {
	// BusyboxPath is the busybox binary copied into every busybox-based
	// image, together with the shared libraries it loads (found with ldd and
	// copied to the same paths). Default DefaultBusybox.
	BusyboxPath string
	// StandinsDir holds the source of the stand-in programs
	// (test/images/stand-ins). Default: located next to this package's source.
	StandinsDir string
	// GoTool is the go command that compiles the stand-ins. Default "go".
	GoTool string
	// StandinsBinDir holds the stand-ins compiled in advance
	// (Builder.WriteStandins, "images standins"): then nothing is compiled
	// and neither the Go toolchain nor the sources are needed, as on the
	// test/vm node. Default $CRICKET_STANDINS_BIN.
	StandinsBinDir string
	// AllowStaticBusybox accepts a statically linked busybox (Debian's
	// busybox-static). Its shell runs applets such as ls as builtins, so
	// critest's masked-path spec cannot see /bin/ls masked; refused by default.
	AllowStaticBusybox bool
}

// Builder builds images from catalog specs. It caches the shared layers and
// the compiled stand-ins, so build many images with one Builder. It is safe
// for concurrent use.
type Builder struct {
	opts   Options
	mu     sync.Mutex
	layers map[string]v1.Layer
	bins   map[string][]byte
}

// NewBuilder checks the options and returns a Builder.
func NewBuilder(opts Options) (*Builder, error) {
	if opts.BusyboxPath == "" {
		opts.BusyboxPath = DefaultBusybox
	}
	if opts.GoTool == "" {
		opts.GoTool = "go"
	}
	if opts.StandinsBinDir == "" {
		opts.StandinsBinDir = os.Getenv(StandinsBinEnv)
	}
	if opts.StandinsDir == "" && opts.StandinsBinDir == "" {
		opts.StandinsDir = defaultStandinsDir()
	}
	if _, err := os.Stat(opts.BusyboxPath); err != nil {
		return nil, fmt.Errorf("busybox binary %s: %w (install Debian's dynamically linked busybox: apt-get install busybox)", opts.BusyboxPath, err)
	}
	if !opts.AllowStaticBusybox {
		if dynamic, err := isDynamic(opts.BusyboxPath); err != nil {
			return nil, err
		} else if !dynamic {
			return nil, fmt.Errorf("busybox binary %s is statically linked: its shell runs ls as a builtin, which hides masked paths from critest; install Debian's dynamic busybox (apt-get install busybox) or set AllowStaticBusybox", opts.BusyboxPath)
		}
	}
	if opts.StandinsBinDir != "" {
		if _, err := os.Stat(opts.StandinsBinDir); err != nil {
			return nil, fmt.Errorf("prebuilt stand-ins: %w", err)
		}
	} else if _, err := os.Stat(filepath.Join(opts.StandinsDir, "pause", "main.go")); err != nil {
		return nil, fmt.Errorf("stand-in sources not found in %s (set Options.StandinsDir to test/images/stand-ins): %w", opts.StandinsDir, err)
	}
	return &Builder{opts: opts, layers: map[string]v1.Layer{}, bins: map[string][]byte{}}, nil
}

func defaultStandinsDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "test/images/stand-ins"
	}
	return filepath.Join(filepath.Dir(file), "..", "stand-ins")
}

// Artifact is a built image: a single linux/amd64 Image, or an Index whose
// linux/amd64 entry is the real image and whose linux/arm64 entry is a stub.
type Artifact struct {
	Image v1.Image
	Index v1.ImageIndex
}

// Digest is the digest of the top-level manifest (the index if there is one).
func (a Artifact) Digest() (v1.Hash, error) {
	if a.Index != nil {
		return a.Index.Digest()
	}
	return a.Image.Digest()
}

// MediaType is the media type of the top-level manifest.
func (a Artifact) MediaType() (types.MediaType, error) {
	if a.Index != nil {
		return a.Index.MediaType()
	}
	return a.Image.MediaType()
}

// RawManifest is the top-level manifest.
func (a Artifact) RawManifest() ([]byte, error) {
	if a.Index != nil {
		return a.Index.RawManifest()
	}
	return a.Image.RawManifest()
}

// PlatformImage returns the linux/amd64 image of the artifact.
func (a Artifact) PlatformImage() (v1.Image, error) {
	if a.Index == nil {
		return a.Image, nil
	}
	im, err := a.Index.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read index manifest: %w", err)
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == "amd64" {
			return a.Index.Image(d.Digest)
		}
	}
	return nil, errors.New("index has no linux/amd64 image")
}

// Build builds one spec with a fresh Builder. Use a shared Builder to build
// several specs without rebuilding the common layers.
func Build(spec Spec, opts Options) (Artifact, error) {
	b, err := NewBuilder(opts)
	if err != nil {
		return Artifact{}, err
	}
	return b.Build(spec)
}

// Build builds spec: its recipe's linux/amd64 image, wrapped in an index with
// an arm64 stub when spec.MultiArch is set.
func (b *Builder) Build(spec Spec) (Artifact, error) {
	if spec.Recipe == nil {
		return Artifact{}, fmt.Errorf("build %s: spec has no recipe", spec.Ref)
	}
	img, err := spec.Recipe(b, spec.Format)
	if err != nil {
		return Artifact{}, fmt.Errorf("build %s: %w", spec.Ref, err)
	}
	if !spec.MultiArch {
		return Artifact{Image: img}, nil
	}
	stub, err := b.arm64Stub(spec.Format)
	if err != nil {
		return Artifact{}, fmt.Errorf("build %s: %w", spec.Ref, err)
	}
	amd, err := describe(img, &v1.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		return Artifact{}, fmt.Errorf("build %s: %w", spec.Ref, err)
	}
	arm, err := describe(stub, &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	if err != nil {
		return Artifact{}, fmt.Errorf("build %s: %w", spec.Ref, err)
	}
	idx := mutate.IndexMediaType(empty.Index, spec.Format.index())
	idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: amd}, mutate.IndexAddendum{Add: arm})
	return Artifact{Index: idx}, nil
}

// describedImage gives an image the index descriptor of a plain image
// manifest: media type, digest, size and platform, without the artifactType
// that go-containerregistry would otherwise copy from the config media type.
type describedImage struct {
	v1.Image
	desc v1.Descriptor
}

// Descriptor is what mutate.AppendManifests puts into the index.
func (d describedImage) Descriptor() (*v1.Descriptor, error) {
	desc := d.desc
	return &desc, nil
}

func describe(img v1.Image, p *v1.Platform) (describedImage, error) {
	mt, err := img.MediaType()
	if err != nil {
		return describedImage{}, fmt.Errorf("media type: %w", err)
	}
	dg, err := img.Digest()
	if err != nil {
		return describedImage{}, fmt.Errorf("digest: %w", err)
	}
	size, err := img.Size()
	if err != nil {
		return describedImage{}, fmt.Errorf("size: %w", err)
	}
	return describedImage{Image: img, desc: v1.Descriptor{MediaType: mt, Digest: dg, Size: size, Platform: p}}, nil
}

// Step is one entry of an image's history: a layer, or a config-only change
// (Layer nil) recorded as an empty-layer history entry.
type Step struct {
	Layer     v1.Layer
	CreatedBy string
}

// LayerStep turns a LayerBuilder into a Step.
func LayerStep(createdBy string, lb *LayerBuilder) (Step, error) {
	l, err := lb.Layer()
	if err != nil {
		return Step{}, fmt.Errorf("layer %q: %w", createdBy, err)
	}
	return Step{Layer: l, CreatedBy: createdBy}, nil
}

// Image assembles a linux/amd64 image from steps with the given config.
func (b *Builder) Image(f Format, cfg v1.Config, steps ...Step) (v1.Image, error) {
	return assemble(f, "amd64", "", cfg, steps)
}

func assemble(f Format, arch, variant string, cfg v1.Config, steps []Step) (v1.Image, error) {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, f.manifest()), f.config())
	history := make([]v1.History, 0, len(steps))
	var adds []mutate.Addendum
	for _, s := range steps {
		h := v1.History{Created: v1.Time{Time: Epoch}, CreatedBy: s.CreatedBy, EmptyLayer: s.Layer == nil}
		history = append(history, h)
		if s.Layer != nil {
			adds = append(adds, mutate.Addendum{Layer: s.Layer, History: h, MediaType: f.layer()})
		}
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.Variant, cf.OS = arch, variant, "linux"
	cf.Created = v1.Time{Time: Epoch}
	cf.Config = cfg
	cf.History = history
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

// arm64Stub is the linux/arm64 entry of multi-arch indexes: a one-file image
// that exists so that runtimes must pick the right platform. It cannot run.
func (b *Builder) arm64Stub(f Format) (v1.Image, error) {
	l, err := b.cachedLayer("arm64-stub", func() (*LayerBuilder, error) {
		return NewLayer().File("/README", []byte("linux/arm64 stub of a cricket test image: not runnable\n"), 0o644, 0, 0), nil
	})
	if err != nil {
		return nil, err
	}
	return assemble(f, "arm64", "v8", v1.Config{Cmd: []string{"/README"}}, []Step{{Layer: l, CreatedBy: "COPY README / # arm64 stub"}})
}

func (b *Builder) cachedLayer(key string, make func() (*LayerBuilder, error)) (v1.Layer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if l, ok := b.layers[key]; ok {
		return l, nil
	}
	lb, err := make()
	if err != nil {
		return nil, err
	}
	l, err := lb.Layer()
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", key, err)
	}
	if _, err := l.Digest(); err != nil { // compress once, under the lock
		return nil, fmt.Errorf("layer %s: %w", key, err)
	}
	b.layers[key] = l
	return l, nil
}

// BusyboxSteps returns the two base layers shared by every busybox-based
// image: the shared libraries busybox loads, then busybox with one hard link
// per applet in /bin, the ipcs, nmeter and pgrep stand-ins and a minimal
// /etc.
func (b *Builder) BusyboxSteps() ([]Step, error) {
	libs, err := b.cachedLayer("libs", b.libsLayer)
	if err != nil {
		return nil, err
	}
	// Compiled before the layer: cachedLayer holds the lock Standin takes.
	nmeter, err := b.Standin("nmeter", "")
	if err != nil {
		return nil, err
	}
	bb, err := b.cachedLayer("busybox", func() (*LayerBuilder, error) { return b.busyboxLayer(nmeter) })
	if err != nil {
		return nil, err
	}
	return []Step{
		{Layer: libs, CreatedBy: "COPY " + strings.Join(b.libPathsForHistory(), " ") + " # busybox's shared libraries, from the host"},
		{Layer: bb, CreatedBy: "COPY " + b.opts.BusyboxPath + " /bin/busybox && ln /bin/busybox /bin/<applet> # plus /etc, ipcs, nmeter and pgrep stand-ins"},
	}, nil
}

func (b *Builder) libPathsForHistory() []string {
	libs, err := sharedLibs(b.opts.BusyboxPath)
	if err != nil {
		return nil
	}
	return libs
}

func (b *Builder) libsLayer() (*LayerBuilder, error) {
	lb := NewLayer()
	return lb, addSharedLibs(lb, b.opts.BusyboxPath)
}

// addSharedLibs adds to lb the shared libraries the host's program bin
// loads, at their paths.
func addSharedLibs(lb *LayerBuilder, bin string) error {
	libs, err := sharedLibs(bin)
	if err != nil {
		return err
	}
	for _, p := range libs {
		data, err := os.ReadFile(p) // follows symlinks: the image gets the real file
		if err != nil {
			return fmt.Errorf("read shared library %s: %w", p, err)
		}
		lb.File(p, data, 0o755, 0, 0)
	}
	return nil
}

// SharedLibs is sharedLibs, for other image builders under test/.
func SharedLibs(bin string) ([]string, error) { return sharedLibs(bin) }

// sharedLibs lists the shared libraries and the ELF interpreter a dynamic
// executable loads, as ldd resolves them on this host; none for a static one.
func sharedLibs(bin string) ([]string, error) {
	dynamic, err := isDynamic(bin)
	if err != nil || !dynamic {
		return nil, err
	}
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
		fields := strings.Fields(sc.Text())
		for _, fld := range fields {
			if strings.HasPrefix(fld, "/") {
				libs = append(libs, fld)
				break
			}
		}
	}
	sort.Strings(libs)
	return libs, nil
}

// isDynamic tells whether bin is an ELF executable with an interpreter.
func isDynamic(bin string) (bool, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return false, fmt.Errorf("read ELF %s: %w", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true, nil
		}
	}
	return false, nil
}

func (b *Builder) applets() ([]string, error) {
	out, err := exec.Command(b.opts.BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", b.opts.BusyboxPath, err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" && !strings.Contains(a, "/") {
			applets = append(applets, a)
		}
	}
	sort.Strings(applets)
	return applets, nil
}

// busyboxLayer is busybox with its applets, the stand-ins (nmeter is the
// compiled stand-in) and a minimal /etc.
func (b *Builder) busyboxLayer(nmeter []byte) (*LayerBuilder, error) {
	bin, err := os.ReadFile(b.opts.BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("read busybox %s: %w (apt-get install busybox)", b.opts.BusyboxPath, err)
	}
	applets, err := b.applets()
	if err != nil {
		return nil, err
	}
	lb := NewLayer()
	for _, d := range []string{"/bin", "/dev", "/etc", "/home", "/usr/bin", "/usr/local/bin", "/usr/sbin", "/var/run", "/var/spool/mail", "/var/www"} {
		lb.Dir(d, 0o755, 0, 0)
	}
	lb.Dir("/root", 0o700, 0, 0)
	lb.Dir("/tmp", 0o1777, 0, 0)
	lb.File("/bin/busybox", bin, 0o755, 0, 0)
	has := make(map[string]bool, len(applets))
	for _, a := range applets {
		lb.HardLink("/bin/"+a, "/bin/busybox")
		has[a] = true
	}
	// The stand-ins only where this busybox lacks the applet (Debian's
	// does; upstream's has all three): a second entry at an applet's path
	// would be written through its hard link, over /bin/busybox itself,
	// by an extractor that opens rather than replaces.
	if !has["nmeter"] {
		lb.File("/bin/nmeter", nmeter, 0o755, 0, 0)
	}
	for _, s := range []string{"ipcs", "pgrep"} {
		if has[s] {
			continue
		}
		data, err := scripts.ReadFile("scripts/" + s)
		if err != nil {
			return nil, fmt.Errorf("read stand-in script %s: %w", s, err)
		}
		lb.File("/bin/"+s, data, 0o755, 0, 0)
	}
	lb.File("/etc/passwd", []byte(basePasswd), 0o644, 0, 0)
	lb.File("/etc/group", []byte(baseGroup), 0o644, 0, 0)
	lb.File("/etc/shadow", []byte(baseShadow), 0o640, 0, 0)
	lb.File("/etc/nsswitch.conf", []byte("passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"), 0o644, 0, 0)
	return lb, nil
}

// The accounts of the official busybox image (1.29 and 1.37 alike).
const (
	basePasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`
	baseGroup = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
`
	baseShadow = `root:*::0:::::
daemon:*::0:::::
bin:*::0:::::
sys:*::0:::::
sync:*::0:::::
mail:*::0:::::
www-data:*::0:::::
operator:*::0:::::
nobody:*::0:::::
`
)

// Standin compiles the stand-in program test/images/stand-ins/<name> as a
// static linux/amd64 binary; version, when set, is linked in as main.version.
func (b *Builder) Standin(name, version string) ([]byte, error) {
	key := name + "@" + version
	b.mu.Lock()
	defer b.mu.Unlock()
	if bin, ok := b.bins[key]; ok {
		return bin, nil
	}
	if b.opts.StandinsBinDir != "" {
		bin, err := os.ReadFile(filepath.Join(b.opts.StandinsBinDir, standinFile(name, version)))
		if err != nil {
			return nil, fmt.Errorf("prebuilt stand-in %s: %w", key, err)
		}
		b.bins[key] = bin
		return bin, nil
	}
	tmp, err := os.MkdirTemp("", "cricket-standin-")
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, name)
	ldflags := "-s -w -buildid="
	if version != "" {
		ldflags += " -X main.version=" + version
	}
	cmd := exec.Command(b.opts.GoTool, "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, "./"+name)
	cmd.Dir = b.opts.StandinsDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build stand-in %s in %s: %w: %s", name, b.opts.StandinsDir, err, msg)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("read stand-in %s: %w", name, err)
	}
	b.bins[key] = bin
	return bin, nil
}

// StandinsBinEnv names the directory of prebuilt stand-ins
// (Options.StandinsBinDir) when the options give none.
const StandinsBinEnv = "CRICKET_STANDINS_BIN"

// standinFile is the file name of a prebuilt stand-in: name, or
// name@version.
func standinFile(name, version string) string {
	if version == "" {
		return name
	}
	return name + "@" + version
}

// WriteStandins writes every stand-in this builder has compiled into dir,
// under the names Options.StandinsBinDir reads. Build the whole catalog
// first to have them all.
func (b *Builder) WriteStandins(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for key, bin := range b.bins {
		name, version, _ := strings.Cut(key, "@")
		file := standinFile(name, version)
		if strings.ContainsAny(file, "/\x00") {
			return fmt.Errorf("stand-in %q: not a file name", key)
		}
		if err := os.WriteFile(filepath.Join(dir, file), bin, 0o755); err != nil {
			return fmt.Errorf("write stand-in %s: %w", key, err)
		}
	}
	return nil
}
