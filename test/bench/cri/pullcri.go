package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// pullImage is one image of the CRI pull benchmark, pushed to the run's
// registry.
type pullImage struct {
	Ref, Label           string
	Layers               int
	Unpacked, Compressed int64
}

// rootfsRecipe is a Debian root filesystem tree built offline with
// mmdebstrap (from the host's apt sources), cached as a tar file.
type rootfsRecipe struct {
	name    string   // cache file name
	variant string   // mmdebstrap --variant
	include []string // --include
}

var (
	// debianBase is Debian 12's minbase (dpkg run, about 8700 entries).
	debianBase = rootfsRecipe{name: "bookworm-minbase", variant: "minbase"}
	// debianPython is python3 and its dependencies unpacked (maintainer
	// scripts not run: a layer of files, thousands of them small), the
	// layer a Dockerfile's `apt-get install python3` adds to the base.
	debianPython = rootfsRecipe{name: "bookworm-extract-python3", variant: "extract", include: []string{"python3"}}
)

func goArch() string { return runtime.GOARCH }

// buildPullImages builds the images of the pull benchmark and pushes them
// to the run's registry: two synthetic ones (1 MiB files, half random and
// half text: 128 MiB in one layer, 256 MiB in 8) and Debian root
// filesystems (minbase in one layer; minbase with python3, thousands of
// small files, as base + python3 layers, merged into one, and split over 4).
func (e *env) buildPullImages(ctx context.Context, cache string) ([]pullImage, error) {
	var out []pullImage
	add := func(label string, layers [][]byte) error {
		img, pi, err := imageOf(layers)
		if err != nil {
			return err
		}
		pi.Ref, pi.Label, pi.Layers = benchHost+"/pull:"+strings.ReplaceAll(label, " ", "-"), label, len(layers)
		if err := e.push(ctx, pi.Ref, img); err != nil {
			return err
		}
		out = append(out, pi)
		return nil
	}
	rng := rand.New(rand.NewPCG(1, 2))
	if err := add("synthetic 1x128MiB", [][]byte{syntheticLayer(rng, 0, 128)}); err != nil {
		return nil, err
	}
	var eight [][]byte
	for i := range 8 {
		eight = append(eight, syntheticLayer(rng, i, 32))
	}
	if err := add("synthetic 8x32MiB", eight); err != nil {
		return nil, err
	}
	var trees [][]byte
	for _, r := range []rootfsRecipe{debianBase, debianPython} {
		path, err := ensureRootfs(ctx, cache, r)
		if err != nil {
			return nil, err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		trees = append(trees, raw)
	}
	if err := add("debian minbase 1 layer", trees[:1]); err != nil {
		return nil, err
	}
	if err := add("debian python3 2 layers", trees); err != nil {
		return nil, err
	}
	merged, err := mergeTars(trees)
	if err != nil {
		return nil, err
	}
	if err := add("debian python3 1 layer", [][]byte{merged}); err != nil {
		return nil, err
	}
	split, err := splitLayers(merged, 4)
	if err != nil {
		return nil, err
	}
	if err := add("debian python3 4 layers", split); err != nil {
		return nil, err
	}
	return out, nil
}

// ensureRootfs builds r with mmdebstrap into cache once.
func ensureRootfs(ctx context.Context, cache string, r rootfsRecipe) (string, error) {
	dir := filepath.Join(cache, "rootfs")
	path := filepath.Join(dir, r.name+".tar")
	if fileExists(path) {
		return path, nil
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		return "", fmt.Errorf("mmdebstrap is not installed (apt-get install mmdebstrap)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	logf("building %s with mmdebstrap (once)", r.name)
	args := []string{"--variant=" + r.variant, "--format=tar"}
	if len(r.include) > 0 {
		args = append(args, "--include="+strings.Join(r.include, ","))
	}
	args = append(args, "bookworm", path+".tmp")
	if out, err := exec.CommandContext(ctx, "mmdebstrap", args...).CombinedOutput(); err != nil {
		_ = os.Remove(path + ".tmp")
		return "", fmt.Errorf("mmdebstrap %s: %w: %s", r.name, err, tail(out))
	}
	return path, os.Rename(path+".tmp", path)
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}

// syntheticLayer is a tar of mib files of 1 MiB, half random, half text.
func syntheticLayer(rng *rand.Rand, n, mib int) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	chunk := make([]byte, 1<<20)
	text := bytes.Repeat([]byte("cricket pulls images fast. "), len(chunk)/2/27+1)[:len(chunk)/2]
	for f := range mib {
		for i := 0; i < len(chunk)/2; i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				chunk[i+j] = byte(v >> (8 * j))
			}
		}
		copy(chunk[len(chunk)/2:], text)
		_ = tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("layer%d/dir%d/file%d", n, f/64, f), Mode: 0o644,
			Size: int64(len(chunk)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)})
		_, _ = tw.Write(chunk)
	}
	_ = tw.Close()
	return buf.Bytes()
}

// mergeTars is one tar of the entries of every tar in order, an entry of
// a later one replacing that of an earlier one of the same name (as the
// later layer would).
func mergeTars(tars [][]byte) ([]byte, error) {
	last := map[string]int{}
	for i, raw := range tars {
		tr := tar.NewReader(bytes.NewReader(raw))
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			last[strings.TrimPrefix(hdr.Name, "./")] = i
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, raw := range tars {
		tr := tar.NewReader(bytes.NewReader(raw))
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			if last[strings.TrimPrefix(hdr.Name, "./")] != i {
				continue
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, err
			}
			if _, err := io.Copy(tw, tr); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// splitLayers spreads the entries of a root filesystem tar over n layers
// whose union is the same tree: directories go into every layer, a hard
// link into its target's layer, every other entry into one layer by the
// hash of its name.
func splitLayers(raw []byte, n int) ([][]byte, error) {
	bufs := make([]bytes.Buffer, n)
	tws := make([]*tar.Writer, n)
	for i := range tws {
		tws[i] = tar.NewWriter(&bufs[i])
	}
	pick := func(name string) int {
		h := fnv.New32a()
		_, _ = h.Write([]byte(strings.TrimPrefix(name, "./")))
		return int(h.Sum32() % uint32(n))
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		var to []int
		switch hdr.Typeflag {
		case tar.TypeDir:
			for i := range n {
				to = append(to, i)
			}
		case tar.TypeLink:
			to = []int{pick(hdr.Linkname)}
		default:
			to = []int{pick(hdr.Name)}
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		for _, i := range to {
			if err := tws[i].WriteHeader(hdr); err != nil {
				return nil, err
			}
			if _, err := tws[i].Write(body); err != nil {
				return nil, err
			}
		}
	}
	out := make([][]byte, n)
	for i, tw := range tws {
		if err := tw.Close(); err != nil {
			return nil, err
		}
		out[i] = bufs[i].Bytes()
	}
	return out, nil
}

// imageOf is an image of the given layer tars (gzip, default level).
func imageOf(layers [][]byte) (v1.Image, pullImage, error) {
	var pi pullImage
	var ls []v1.Layer
	for _, raw := range layers {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		if _, err := zw.Write(raw); err != nil {
			return nil, pi, err
		}
		if err := zw.Close(); err != nil {
			return nil, pi, err
		}
		blob := gz.Bytes()
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(blob)), nil })
		if err != nil {
			return nil, pi, err
		}
		ls = append(ls, l)
		pi.Unpacked += int64(len(raw))
		pi.Compressed += int64(len(blob))
	}
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		return nil, pi, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, pi, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", goArch()
	cf.Config = v1.Config{Cmd: []string{"/bin/sh"}}
	img, err = mutate.ConfigFile(img, cf)
	return img, pi, err
}

// pullRound pulls every image once through CRI on each image store (one
// target per daemon), the daemons taking turns: before each pull the
// image is removed, dirty pages are written back and the page cache is
// dropped (when the host lets this process). It returns whether caches
// were dropped. With -pprof, the first run profiles each Cricket daemon
// during its pull of the first image.
func pullRound(ctx context.Context, o options, ws []*workload, rs []*result, images []pullImage, run int) bool {
	var idx []int
	seen := map[int]bool{}
	for i, w := range ws {
		if !w.broken && !seen[w.t.DaemonPID] {
			seen[w.t.DaemonPID] = true
			idx = append(idx, i)
		}
	}
	dropped := true
	for k, img := range images {
		for j := range idx {
			i := idx[(j+run+k)%len(idx)]
			w, r := ws[i], rs[i]
			var prof <-chan []string
			if run == 0 && k == 0 && o.pprofDir != "" && w.t.MetricsURL != "" {
				prof = profile(ctx, w.t, o.pprofDir, "pull", o.pprofSeconds, o.trace)
			}
			d, ok, err := w.pullOnce(ctx, img.Ref)
			if prof != nil {
				r.Errors = append(r.Errors, <-prof...)
			}
			dropped = dropped && ok
			if err != nil {
				r.fail("pull "+img.Label, err)
				continue
			}
			if r.Pulls == nil {
				r.Pulls = map[string]time.Duration{}
			}
			r.Pulls[img.Label] = d
		}
	}
	return dropped
}

// pullOnce removes ref, drops the caches and times PullImage.
func (w *workload) pullOnce(ctx context.Context, ref string) (time.Duration, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	spec := &runtimeapi.ImageSpec{Image: ref}
	if st, err := w.t.IS.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec}); err == nil && st.Image != nil {
		if _, err := w.t.IS.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec}); err != nil {
			return 0, false, fmt.Errorf("RemoveImage: %w", err)
		}
	}
	dropped := dropCaches()
	t0 := time.Now()
	if _, err := w.t.IS.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec}); err != nil {
		return 0, dropped, fmt.Errorf("PullImage: %w", err)
	}
	d := time.Since(t0)
	// Leave nothing behind for the next pull of another runtime to pay:
	// remove the image and write its dirty pages back, untimed.
	_, err := w.t.IS.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec})
	exec.Command("sync").Run() //nolint:errcheck // best effort
	return d, dropped, err
}

// dropCaches writes dirty pages back and drops the page cache, dentries
// and inodes; false when the host does not let this process.
func dropCaches() bool {
	_ = exec.Command("sync").Run()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200) == nil
}
