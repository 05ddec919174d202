// Command pull measures image pull + unpack throughput: it generates a
// multi-layer image (default 256 MB uncompressed, 8 gzip layers) in memory,
// serves it from a registry on 127.0.0.1 and pulls it with Cricket's image
// service into fresh stores, printing MB/s for a cold pull (first ever), a
// warm pull (fresh store, registry and page cache warm) and a re-pull of a
// present image. When containerd's ctr and socket are on the machine it
// pulls the same image with containerd and prints the ratio.
//
//	go run ./test/bench/pull -size-mb 256 -layers 8
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"archive/tar"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/klauspost/compress/gzip"

	"github.com/cricket-cri/cricket/pkg/image"
	"github.com/cricket-cri/cricket/pkg/snapshot"
)

func main() {
	sizeMB := flag.Int("size-mb", 256, "uncompressed image size in MB (at least 200 for the recorded figures)")
	layers := flag.Int("layers", 8, "number of layers")
	parallel := flag.Int("parallel", image.DefaultMaxConcurrentDownloads, "max concurrent layer downloads")
	workdir := flag.String("dir", "", "where the stores go (default: a temp dir under /var/tmp)")
	ctrSocket := flag.String("containerd-socket", "/run/containerd/containerd.sock", "containerd socket for the comparison")
	runs := flag.Int("runs", 3, "rounds of cold + warm pulls; the median is reported")
	flag.Parse()
	if err := run(*sizeMB, *layers, *parallel, *runs, *workdir, *ctrSocket); err != nil {
		log.Fatal(err)
	}
}

// blobs holds the generated image: digest -> content, plus its manifest.
type blobs struct {
	manifest     []byte
	byDigest     map[string][]byte
	uncompressed int64
	compressed   int64
}

func run(sizeMB, layers, parallel, runs int, workdir, ctrSocket string) error {
	start := time.Now()
	img, err := generate(int64(sizeMB)<<20, layers)
	if err != nil {
		return err
	}
	fmt.Printf("image: %d layers, %.1f MB uncompressed, %.1f MB gzip (generated in %s)\n",
		layers, mb(img.uncompressed), mb(img.compressed), time.Since(start).Round(time.Millisecond))
	addr, stop, err := serve(img)
	if err != nil {
		return err
	}
	defer stop()
	if workdir == "" {
		if workdir, err = os.MkdirTemp("/var/tmp", "cricket-bench-"); err != nil {
			return fmt.Errorf("create work dir: %w", err)
		}
		defer os.RemoveAll(workdir)
	}
	ref := addr + "/bench/big:latest"
	var colds, warms, again []time.Duration
	for i := range max(runs, 1) {
		cold, err := pullOnce(filepath.Join(workdir, fmt.Sprintf("cold%d", i)), addr, ref, parallel, false)
		if err != nil {
			return err
		}
		warm, err := pullOnce(filepath.Join(workdir, fmt.Sprintf("warm%d", i)), addr, ref, parallel, true)
		if err != nil {
			return err
		}
		_ = os.RemoveAll(filepath.Join(workdir, fmt.Sprintf("cold%d", i)))
		_ = os.RemoveAll(filepath.Join(workdir, fmt.Sprintf("warm%d", i)))
		fmt.Printf("round %d: cold %s, warm %s\n", i+1, cold.first.Round(time.Millisecond), warm.first.Round(time.Millisecond))
		colds, warms, again = append(colds, cold.first), append(warms, warm.first), append(again, warm.again)
	}
	report("cricket cold", img, median(colds))
	report("cricket warm", img, median(warms))
	fmt.Printf("%-16s %8s  (image present: manifest check only)\n", "cricket re-pull", median(again).Round(time.Millisecond))
	compareContainerd(ctrSocket, ref, img, median(warms))
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

type timings struct{ first, again time.Duration }

func mb(n int64) float64 { return float64(n) / (1 << 20) }

func report(name string, img *blobs, d time.Duration) {
	fmt.Printf("%-16s %8s  %7.1f MB/s unpacked  %7.1f MB/s downloaded\n", name, d.Round(time.Millisecond),
		mb(img.uncompressed)/d.Seconds(), mb(img.compressed)/d.Seconds())
}

// pullOnce pulls ref into a fresh store under dir (twice when again).
func pullOnce(dir, addr, ref string, parallel int, again bool) (timings, error) {
	certs := filepath.Join(dir, "certs.d", addr)
	if err := os.MkdirAll(certs, 0o755); err != nil {
		return timings{}, fmt.Errorf("create certs dir: %w", err)
	}
	hosts := fmt.Sprintf("server = %q\n", "http://"+addr)
	if err := os.WriteFile(filepath.Join(certs, "hosts.toml"), []byte(hosts), 0o644); err != nil {
		return timings{}, fmt.Errorf("write hosts.toml: %w", err)
	}
	ctx := context.Background()
	svc, err := image.New(ctx, image.Options{Root: dir, RegistryConfigPath: filepath.Join(dir, "certs.d"),
		MaxConcurrentDownloads: parallel, Unpack: snapshot.UnpackOptions{Rootless: os.Geteuid() != 0}})
	if err != nil {
		return timings{}, err
	}
	var t timings
	// Flush what earlier rounds left dirty so that it is not billed here.
	syscall.Sync()
	start := time.Now()
	if _, err := svc.Pull(ctx, ref, nil, ""); err != nil {
		return timings{}, err
	}
	t.first = time.Since(start)
	if again {
		start = time.Now()
		if _, err := svc.Pull(ctx, ref, nil, ""); err != nil {
			return timings{}, err
		}
		t.again = time.Since(start)
	}
	return t, nil
}

// generate builds layers of 1 MiB files, each half random and half text,
// so that gzip does real work and gets a realistic ~2:1 ratio.
func generate(total int64, layers int) (*blobs, error) {
	img := &blobs{byDigest: map[string][]byte{}}
	rng := rand.New(rand.NewPCG(1, 2))
	perLayer := total / int64(layers)
	var diffIDs []string
	var descs []map[string]any
	for i := range layers {
		raw, gz, err := layer(rng, i, perLayer)
		if err != nil {
			return nil, err
		}
		img.uncompressed += int64(len(raw))
		img.compressed += int64(len(gz))
		diffIDs = append(diffIDs, digest(raw))
		img.byDigest[digest(gz)] = gz
		descs = append(descs, map[string]any{"mediaType": image.MediaTypeOCILayerGzip, "digest": digest(gz), "size": len(gz)})
	}
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"/bin/sh"}}, "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	img.byDigest[digest(cfg)] = cfg
	img.manifest, _ = json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": image.MediaTypeOCIManifest,
		"config": map[string]any{"mediaType": image.MediaTypeOCIConfig, "digest": digest(cfg), "size": len(cfg)},
		"layers": descs})
	return img, nil
}

func layer(rng *rand.Rand, n int, size int64) (raw, gz []byte, err error) {
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	chunk := make([]byte, 1<<20)
	text := bytes.Repeat([]byte("cricket pulls images fast. "), len(chunk)/2/27+1)[:len(chunk)/2]
	for f := int64(0); f*int64(len(chunk)) < size; f++ {
		for i := 0; i < len(chunk)/2; i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				chunk[i+j] = byte(v >> (8 * j))
			}
		}
		copy(chunk[len(chunk)/2:], text)
		hdr := &tar.Header{Name: fmt.Sprintf("layer%d/dir%d/file%d", n, f/64, f), Mode: 0o644, Size: int64(len(chunk)),
			Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, nil, fmt.Errorf("write tar: %w", err)
		}
		if _, err := tw.Write(chunk); err != nil {
			return nil, nil, fmt.Errorf("write tar: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, nil, fmt.Errorf("close tar: %w", err)
	}
	var gzBuf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gzBuf, gzip.BestSpeed)
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		return nil, nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, nil, fmt.Errorf("gzip: %w", err)
	}
	return tarBuf.Bytes(), gzBuf.Bytes(), nil
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// serve pushes img into go-containerregistry's registry on 127.0.0.1.
func serve(img *blobs) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	addr := ln.Addr().String()
	base := "http://" + addr + "/v2/bench/big"
	for d, b := range img.byDigest {
		resp, err := http.Post(base+"/blobs/uploads/?digest="+d, "application/octet-stream", bytes.NewReader(b))
		if err != nil {
			return "", nil, fmt.Errorf("push blob: %w", err)
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPut, base+"/manifests/latest", bytes.NewReader(img.manifest))
	req.Header.Set("Content-Type", image.MediaTypeOCIManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("push manifest: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", nil, fmt.Errorf("push manifest: %s", resp.Status)
	}
	return addr, func() { _ = srv.Close() }, nil
}

// compareContainerd pulls ref with containerd's ctr when both are present.
func compareContainerd(socket, ref string, img *blobs, cricket time.Duration) {
	ctr, err := exec.LookPath("ctr")
	if _, serr := os.Stat(socket); err != nil || serr != nil {
		fmt.Println("containerd: not available on this machine (no ctr or no socket); no ratio")
		return
	}
	ns := fmt.Sprintf("cricket-bench-%d", time.Now().UnixNano())
	start := time.Now()
	out, err := exec.Command(ctr, "-a", socket, "-n", ns, "images", "pull", "--plain-http", ref).CombinedOutput()
	d := time.Since(start)
	if err != nil {
		fmt.Printf("containerd: pull failed: %v\n%s\n", err, out)
		return
	}
	report("containerd", img, d)
	fmt.Printf("ratio: cricket is %.2fx containerd (warm)\n", d.Seconds()/cricket.Seconds())
	_ = exec.Command(ctr, "-a", socket, "-n", ns, "images", "rm", ref).Run()
}
