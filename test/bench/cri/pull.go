package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// runPullBench builds and runs test/bench/pull (image pull + unpack
// throughput of Cricket's image service) and returns its report. With a
// containerd socket and ctr in ctrBinDir, the tool pulls the same image
// with containerd as well and prints the ratio.
func runPullBench(ctx context.Context, e *env, sizeMB, runs int, ctrdSocket, ctrBinDir string) (string, error) {
	mod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(mod)), "go.mod") {
		return "", fmt.Errorf("run from the Cricket module (go env GOMOD: %q, %v)", mod, err)
	}
	bin := filepath.Join(e.Dir, "bin", "pull")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./test/bench/pull")
	build.Dir = filepath.Dir(strings.TrimSpace(string(mod)))
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build test/bench/pull: %w: %s", err, out)
	}
	work := filepath.Join("/var/tmp", filepath.Base(e.Dir)+"-pull")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	args := []string{"-size-mb", fmt.Sprint(sizeMB), "-layers", "8", "-runs", fmt.Sprint(runs), "-dir", work,
		"-containerd-socket", ctrdSocket}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	path := os.Getenv("PATH")
	if ctrBinDir != "" {
		path = ctrBinDir + ":" + path
	}
	cmd.Env = append(os.Environ(), "PATH="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("test/bench/pull: %w", err)
	}
	return string(out), nil
}
