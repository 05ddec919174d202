package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// runcModule is the module whose libcontainer Cricket's built-in executor
// embeds; its CLI is built at the same version for containerd and for
// Cricket's runc handler, so that the three run the same runc code.
const runcModule = "github.com/opencontainers/runc"

// moduleVersion is the version of mod the Cricket module requires.
func moduleVersion(ctx context.Context, mod string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", mod).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s (run from the Cricket module): %w", mod, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// buildRunc builds runc's CLI from the Go module proxy at version into
// cache (once per version and Go version): the module's source is copied
// out of the module cache and built with libseccomp, as runc's Makefile
// does by default.
func buildRunc(ctx context.Context, cache, version string) (string, error) {
	goVer, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	dir := filepath.Join(cache, "runc-"+version+"-"+strings.TrimSpace(string(goVer)))
	bin := filepath.Join(dir, "runc")
	if fileExists(bin) {
		return bin, nil
	}
	logf("building runc %s from the module proxy into %s (once; takes minutes)", version, dir)
	start := time.Now()
	out, err := exec.CommandContext(ctx, "go", "mod", "download", "-json", runcModule+"@"+version).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", runcModule, version, err)
	}
	var modDir string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), `"Dir": `); ok {
			modDir = strings.Trim(strings.TrimSuffix(v, ","), `"`)
		}
	}
	if modDir == "" {
		return "", fmt.Errorf("go mod download %s@%s: no Dir in %s", runcModule, version, out)
	}
	// The cache dir is new on a fresh machine: the copy below goes next to
	// dir.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src := dir + ".src"
	_ = os.RemoveAll(src)
	defer os.RemoveAll(src)
	if out, err := exec.CommandContext(ctx, "cp", "-r", modDir, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copy %s: %w: %s", modDir, err, out)
	}
	if out, err := exec.CommandContext(ctx, "chmod", "-R", "u+w", src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("chmod %s: %w: %s", src, err, out)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "seccomp",
		"-ldflags", "-X main.version="+strings.TrimPrefix(version, "v"), "-o", bin+".tmp", ".")
	cmd.Dir = src
	// runc's vendor/modules.txt is not kept in step with its go.mod in the
	// published module; build from the module proxy instead.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=1")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build runc %s (needs gcc and libseccomp-dev): %w", version, err)
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		return "", err
	}
	logf("built runc %s in %s", version, time.Since(start).Round(time.Second))
	return bin, nil
}

//go:embed pause/pause.c
var pauseSource []byte

// buildPause compiles pause/pause.c statically with gcc into cache, keyed
// on the source's hash.
func buildPause(ctx context.Context, cache string) (string, error) {
	sum := sha256.Sum256(pauseSource)
	dir := filepath.Join(cache, "pause-"+hex.EncodeToString(sum[:])[:12])
	bin := filepath.Join(dir, "pause")
	if fileExists(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(dir, "pause.c")
	if err := os.WriteFile(src, pauseSource, 0o644); err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, "gcc", "-Os", "-static", "-s", "-o", bin+".tmp", src).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("gcc -static pause.c (needs gcc and libc6-dev): %w: %s", err, out)
	}
	return bin, os.Rename(bin+".tmp", bin)
}

// pauseImageOf is an image of one layer holding bin as /pause, run as
// 65535:65535 like the upstream pause image.
func pauseImageOf(bin string) (v1.Image, error) {
	raw, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(raw)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(raw); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", goArch()
	cf.Config = v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535", WorkingDir: "/"}
	return mutate.ConfigFile(img, cf)
}

// push writes img to the run's registry under ref (a bench.invalid name
// that hosts.toml maps to it).
func (e *env) push(ctx context.Context, ref string, img v1.Image) error {
	local := strings.Replace(ref, benchHost, e.registry.Addr, 1)
	r, err := name.ParseReference(local, name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	return nil
}
