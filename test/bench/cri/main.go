// Command cri benchmarks container runtimes over the CRI gRPC API: pod start
// latency (RunPodSandbox through a running container) sequentially and in
// parallel, with Cricket's phase breakdown from its metrics endpoint;
// container create+start, stop and remove; ExecSync; density (RSS and PSS of
// the daemon and of the per-pod shims with many sleeping pods, and the time
// to start and remove them all); and critest's own benchmark mode. It prints
// a table of figures, never a pass/fail verdict.
//
// It starts everything it measures under one temporary directory: the test
// image registry (test/images) with hosts.toml mirrors, a CNI bridge network
// of its own, cricketd (built-in and runc handlers) and, with -compare,
// containerd v2 with its CRI plugin and runc, installed once into a cache
// directory from the Go module proxy. Everything is removed at the end.
//
//	go run ./test/bench/cri -cricketd bin/cricketd [-compare] [-plot docs/bench-latency.png]
//
// Needs root (namespaces, mounts, a bridge, iptables).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// options are the command line settings.
type options struct {
	cricketd        string
	compare         bool
	handlers        string
	pods            int
	parallel        int
	hostNetPods     int
	containers      int
	execs           int
	density         int
	densityParallel int
	settle          time.Duration
	critest         bool
	critestPods     int
	plot            string
	cache           string
	containerdVer   string
	keep            bool
	rounds          int
	pprofDir        string
	pprofSeconds    int
	timeout         time.Duration
	pullMB          int
	pullRuns        int
	jsonOut         string
	from            string
	installOnly     bool
}

func main() {
	var o options
	flag.StringVar(&o.cricketd, "cricketd", "bin/cricketd", "cricketd binary to measure")
	flag.BoolVar(&o.compare, "compare", false, "also install and measure containerd v2 (CRI plugin, runc) and print ratios cricket/containerd")
	flag.StringVar(&o.handlers, "handlers", "cricket,runc", "Cricket runtime handlers to measure, comma separated (cricket = built-in)")
	flag.IntVar(&o.pods, "pods", 100, "pods per pod start latency run (sequential, and again in parallel)")
	flag.IntVar(&o.parallel, "parallel", 10, "concurrent pod starts in the parallel run")
	flag.IntVar(&o.hostNetPods, "hostnet-pods", 50, "pods of the hostNetwork pod start variant (0 leaves it out)")
	flag.IntVar(&o.containers, "containers", 100, "container create+start / stop / remove cycles in one pod")
	flag.IntVar(&o.execs, "execs", 100, "ExecSync calls")
	flag.IntVar(&o.density, "density", 200, "pods of one sleeping busybox container each for the density figures (0 leaves it out)")
	flag.IntVar(&o.densityParallel, "density-parallel", 10, "concurrent pod starts and removals in the density run")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "idle time before memory is read in the density run")
	flag.BoolVar(&o.critest, "critest", true, "also run critest --benchmark against each runtime")
	flag.IntVar(&o.critestPods, "critest-n", 50, "critest benchmark samples (podsNumber and containersNumber)")
	flag.StringVar(&o.plot, "plot", "", "write a pod start latency distribution plot (PNG) here")
	flag.StringVar(&o.cache, "cache", "/var/cache/cricket-bench", "where containerd and critest are built once")
	flag.StringVar(&o.containerdVer, "containerd-version", "v2.4.2", "containerd version to build with -compare")
	flag.IntVar(&o.pullMB, "pull-size-mb", 256, "uncompressed size of the image of the pull benchmark (test/bench/pull)")
	flag.IntVar(&o.pullRuns, "pull-runs", 3, "rounds of the pull benchmark (0 leaves it out)")
	flag.IntVar(&o.rounds, "rounds", 4, "split each latency workload into this many rounds, the targets taking turns")
	flag.StringVar(&o.pprofDir, "pprof", "", "save a CPU profile of cricketd (from its metrics endpoint) taken during the first round of sequential pod starts of each Cricket handler into this dir")
	flag.IntVar(&o.pprofSeconds, "pprof-seconds", 10, "length of that CPU profile")
	flag.DurationVar(&o.timeout, "timeout", time.Hour, "bound on the whole run; what is unfinished then is reported as an error")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (logs) after the run")
	flag.StringVar(&o.jsonOut, "json", "", "also write every measured sample here (JSON), for -from")
	flag.StringVar(&o.from, "from", "", "measure nothing: print the table and draw the plot from a -json file")
	flag.BoolVar(&o.installOnly, "install-containerd", false, "measure nothing: build containerd (-containerd-version, into -cache) and runc if missing, print containerd's bin dir and runc's path (test/e2enode runs its suite on them)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.from != "" {
		results, err := loadResults(o.from)
		if err != nil {
			return err
		}
		return report(o, results)
	}
	if o.installOnly {
		inst, err := installContainerd(context.Background(), o.cache, o.containerdVer)
		if err != nil {
			return err
		}
		fmt.Println(inst.BinDir)
		fmt.Println(inst.Runc)
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: the benchmark creates pods (namespaces, mounts, a bridge, iptables rules)")
	}
	bin, err := filepath.Abs(o.cricketd)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("cricketd binary: %w (make build)", err)
	}
	o.cricketd = bin
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	began := time.Now()

	var ctrd *containerdInstall
	if o.compare {
		if ctrd, err = installContainerd(ctx, o.cache, o.containerdVer); err != nil {
			return err
		}
	}
	critestBin := ""
	if o.critest {
		if critestBin, err = ensureCritest(ctx); err != nil {
			logf("critest benchmark left out: %v", err)
		}
	}

	env, err := newEnv(ctx, o.keep)
	if err != nil {
		return err
	}
	defer env.Close()

	cricket, err := env.startCricketd(ctx, o.cricketd)
	if err != nil {
		return err
	}
	defer cricket.Stop()
	var targets []*target
	for _, h := range strings.Split(o.handlers, ",") {
		if h = strings.TrimSpace(h); h != "" {
			targets = append(targets, cricket.target(h))
		}
	}
	ctrdSocket, ctrBin := "", ""
	if ctrd != nil {
		c, err := env.startContainerd(ctx, ctrd)
		if err != nil {
			return err
		}
		defer c.Stop()
		targets = append(targets, c.target())
		ctrdSocket, ctrBin = c.socket, ctrd.BinDir
	}
	results := measure(ctx, o, env, targets, critestBin)
	last := results[len(results)-1]
	if o.pullRuns > 0 && ctx.Err() == nil {
		logf("image pull + unpack throughput (test/bench/pull)")
		if last.Pull, err = runPullBench(ctx, env, o.pullMB, o.pullRuns, ctrdSocket, ctrBin); err != nil {
			last.fail("pull benchmark", err)
		}
	}

	printMachine(os.Stdout)
	if o.jsonOut != "" {
		if err := saveResults(o.jsonOut, results); err != nil {
			return err
		}
	}
	if err := report(o, results); err != nil {
		return err
	}
	fmt.Printf("\nwhole run: %s\n", time.Since(began).Round(time.Second))
	return nil
}

// report prints the table and draws the plot.
func report(o options, results []*result) error {
	printTable(os.Stdout, results)
	if o.plot != "" {
		if err := writePlot(o.plot, results); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		fmt.Printf("\nlatency plot: %s\n", o.plot)
	}
	return nil
}

func saveResults(path string, results []*result) error {
	raw, err := json.MarshalIndent(results, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

func loadResults(path string) ([]*result, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var results []*result
	if err := json.Unmarshal(raw, &results); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return results, nil
}

// logf prints a progress line on stderr, so that stdout holds the report.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
