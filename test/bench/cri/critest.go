package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// criToolsVersion is the critest test/critest/run.sh builds; its binary is
// shared through the same cache.
const criToolsVersion = "v1.37.0"

// ensureCritest returns the critest binary test/critest/run.sh builds into
// its cache ($CRITEST_CACHE or /var/cache/cricket-test), building it the same
// way when it is missing.
func ensureCritest(ctx context.Context) (string, error) {
	goVer, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	cache := os.Getenv("CRITEST_CACHE")
	if cache == "" {
		cache = "/var/cache/cricket-test"
	}
	dir := filepath.Join(cache, "cri-tools-"+criToolsVersion+"-"+strings.TrimSpace(string(goVer)))
	bin := filepath.Join(dir, "critest")
	if fileExists(bin) {
		return bin, nil
	}
	logf("building critest %s into %s (once)", criToolsVersion, dir)
	tmp, err := os.MkdirTemp("", "critest-mod-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	goEnv := append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	dl := exec.CommandContext(ctx, "go", "mod", "download", "-json", "sigs.k8s.io/cri-tools@"+criToolsVersion)
	dl.Dir, dl.Env = tmp, goEnv
	out, err := dl.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download cri-tools: %w", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download cri-tools gave no module directory: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin+".tmp", "./cmd/critest")
	build.Dir, build.Env = mod.Dir, goEnv
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build critest: %w", err)
	}
	return bin, os.Rename(bin+".tmp", bin)
}

// opStats are the figures of one critest benchmark operation.
type opStats struct {
	Samples       int
	P50, P90, P99 time.Duration
}

// critestResults is the JSON critest writes per benchmark
// (LifecycleBenchmarksResultsSet).
type critestResults struct {
	OperationsNames []string `json:"operationsNames"`
	NumParallel     int      `json:"numParallel"`
	Datapoints      []struct {
		OperationsDurationsNs []int64 `json:"operationsDurationsNs"`
	} `json:"datapoints"`
}

// runCritestBenchmark runs critest's pod and container lifecycle benchmarks
// with n samples each and summarises their JSON results by operation.
func runCritestBenchmark(ctx context.Context, bin string, e *env, t *target, n int) (map[string]opStats, error) {
	dir := filepath.Join(e.Dir, "critest", t.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	params := fmt.Sprintf("containersNumber: %d\ncontainersNumberParallel: 1\ncontainerBenchmarkTimeoutSeconds: 60\n"+
		"podsNumber: %d\npodsNumberParallel: 1\npodBenchmarkTimeoutSeconds: 60\nimagesNumber: 0\n", n, n)
	paramsFile := filepath.Join(dir, "params.yaml")
	if err := os.WriteFile(paramsFile, []byte(params), 0o644); err != nil {
		return nil, err
	}
	socket := "unix://" + t.Socket
	args := []string{"--benchmark", "--runtime-endpoint", socket, "--image-endpoint", socket,
		"--benchmarking-params-file", paramsFile, "--benchmarking-output-dir", dir,
		// The pod+container start benchmark only reports through ginkgo; the
		// harness measures that itself.
		"--ginkgo.focus", "basic operations on Container|lifecycle of PodSandbox",
		"--ginkgo.no-color"}
	if t.Handler != "" {
		args = append(args, "--runtime-handler", t.Handler)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(dir, "critest.log"), out, 0o644)
	if err != nil {
		return nil, fmt.Errorf("critest --benchmark: %w (log %s)", err, filepath.Join(dir, "critest.log"))
	}
	stats := map[string]opStats{}
	for _, f := range []struct{ file, prefix string }{
		{"pod_benchmark_data.json", "pod"},
		{"container_benchmark_data.json", "container"},
	} {
		raw, err := os.ReadFile(filepath.Join(dir, f.file))
		if err != nil {
			return nil, fmt.Errorf("critest wrote no %s: %w", f.file, err)
		}
		var res critestResults
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, fmt.Errorf("parse %s: %w", f.file, err)
		}
		for i, op := range res.OperationsNames {
			var ds []time.Duration
			for _, p := range res.Datapoints {
				if i < len(p.OperationsDurationsNs) {
					ds = append(ds, time.Duration(p.OperationsDurationsNs[i]))
				}
			}
			stats[f.prefix+" "+op] = opStats{Samples: len(ds), P50: quantile(ds, 0.5), P90: quantile(ds, 0.9), P99: quantile(ds, 0.99)}
		}
	}
	return stats, nil
}

// critestOps is the order critest's operations are reported in.
var critestOps = []string{
	"pod CreatePod", "pod StatusPod", "pod StopPod", "pod RemovePod",
	"container CreateContainer", "container StartContainer", "container StatusContainer", "container StopContainer", "container RemoveContainer",
}
