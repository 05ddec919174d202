// Command cri benchmarks container runtimes over the CRI gRPC API: pod start
// latency (RunPodSandbox through a running container) sequentially and in
// parallel, with Cricket's phase breakdown from its metrics endpoint;
// StopPodSandbox and RemovePodSandbox; container create+start, stop and
// remove; ExecSync; density (PSS and RSS of everything a runtime adds per
// pod: daemon growth, shims, pause processes, read 10 s after the last start
// and again after kubelet-like polling, with the relist time); CRI
// PullImage of synthetic and Debian (mmdebstrap) images with the page cache
// dropped; and optionally critest's own benchmark mode. Every workload runs
// -runs times, the targets taking turns; the table gives the median of the
// runs with their range, never a pass/fail verdict.
//
// Like for like: containerd and Cricket's runc handler run runc's CLI built
// from the module proxy at the version whose libcontainer Cricket's
// built-in executor embeds, and containerd's sandbox image is a static C
// pause built here with gcc (pause/pause.c).
//
// It starts everything it measures under one temporary directory: the test
// image registry (test/images) with hosts.toml mirrors, a CNI bridge network
// of its own, cricketd (built-in and runc handlers) and, with -compare,
// containerd v2 with its CRI plugin and runc, installed once into a cache
// directory from the Go module proxy. Everything is removed at the end.
//
//	go run ./test/bench/cri -cricketd bin/cricketd [-compare] [-plot docs/bench-latency.png]
//
// Two modes measure nothing and serve the harnesses that run containerd
// (test/e2enode, test/cluster): -install-containerd builds it, and
// -containerd-config prints its config (the one the bench writes, from
// test/internal/ctrdconfig) for the values of the flags that follow.
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
	trace           bool
	timeout         time.Duration
	pullMB          int
	pullRuns        int
	jsonOut         string
	from            string
	runs            int
	poll            time.Duration
	pullCRI         bool
	installOnly     bool
}

func main() {
	// The config mode has flags of its own; it comes first.
	if len(os.Args) > 1 && strings.TrimLeft(os.Args[1], "-") == containerdConfigFlag {
		if err := containerdConfigMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		return
	}
	var o options
	flag.StringVar(&o.cricketd, "cricketd", "bin/cricketd", "cricketd binary to measure")
	flag.BoolVar(&o.compare, "compare", false, "also install and measure containerd v2 (CRI plugin, runc) and print ratios cricket/containerd")
	flag.StringVar(&o.handlers, "handlers", "cricket,runc", "Cricket runtime handlers to measure, comma separated (cricket = built-in)")
	flag.IntVar(&o.pods, "pods", 20, "pods per pod start latency run (sequential, and again in parallel)")
	flag.IntVar(&o.parallel, "parallel", 10, "concurrent pod starts in the parallel run")
	flag.IntVar(&o.hostNetPods, "hostnet-pods", 10, "pods of the hostNetwork pod start variant (0 leaves it out)")
	flag.IntVar(&o.containers, "containers", 20, "container create+start / stop / remove cycles in one pod")
	flag.IntVar(&o.execs, "execs", 20, "ExecSync calls")
	flag.IntVar(&o.density, "density", 10, "pods of one sleeping busybox container each for the density and memory figures (0 leaves it out)")
	flag.DurationVar(&o.poll, "poll", 150*time.Second, "kubelet-like polling in the density run before memory is read again")
	flag.IntVar(&o.runs, "runs", 5, "full runs of every workload; each figure is the median over the runs, with its spread")
	flag.BoolVar(&o.pullCRI, "pull-cri", true, "time CRI PullImage of synthetic and Debian (mmdebstrap) images on each image store, once per run")
	flag.IntVar(&o.densityParallel, "density-parallel", 10, "concurrent pod starts and removals in the density run")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "idle time before memory is read in the density run")
	flag.BoolVar(&o.critest, "critest", false, "also run critest --benchmark against each runtime")
	flag.IntVar(&o.critestPods, "critest-n", 50, "critest benchmark samples (podsNumber and containersNumber)")
	flag.StringVar(&o.plot, "plot", "", "write a pod start latency distribution plot (PNG) here")
	flag.StringVar(&o.cache, "cache", "/var/cache/cricket-bench", "where containerd and critest are built once")
	flag.StringVar(&o.containerdVer, "containerd-version", "v2.4.2", "containerd version to build with -compare")
	flag.IntVar(&o.pullMB, "pull-size-mb", 256, "uncompressed size of the image of the pull benchmark (test/bench/pull)")
	flag.IntVar(&o.pullRuns, "pull-runs", 0, "rounds of the in-process pull benchmark test/bench/pull after the runs (0 leaves it out)")
	flag.IntVar(&o.rounds, "rounds", 2, "split each latency workload into this many rounds, the targets taking turns")
	flag.StringVar(&o.pprofDir, "pprof", "", "save CPU profiles of cricketd (from its metrics endpoint) taken during the first round of sequential pod starts (start, stop, remove), of the container lifecycle (create, start, stop, remove) and during the first CRI pull of the first run, of each Cricket handler, into this dir")
	flag.BoolVar(&o.trace, "trace", false, "with -pprof, also save Go execution traces of the same windows (blocking profiles: go tool trace -pprof=syscall|sync|net)")
	flag.IntVar(&o.pprofSeconds, "pprof-seconds", 10, "length of those CPU profiles (and traces)")
	flag.DurationVar(&o.timeout, "timeout", time.Hour, "bound on the whole run; what is unfinished then is reported as an error")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (logs) after the run")
	flag.StringVar(&o.jsonOut, "json", "", "also write every measured sample here (JSON), for -from")
	flag.StringVar(&o.from, "from", "", "measure nothing: print the table and draw the plot from a -json file")
	flag.BoolVar(&o.installOnly, "install-containerd", false, "measure nothing: build containerd (-containerd-version, into -cache) and runc if missing, print containerd's bin dir and runc's path (test/e2enode runs its suite on them)")
	flag.Bool(containerdConfigFlag, false, "measure nothing: print containerd 2's config (the bench's own, test/internal/ctrdconfig) for the values of the flags after it; first argument only (-containerd-config -h lists its flags; test/e2enode and test/cluster run containerd with it)")
	flag.Parse()
	if f := flag.Lookup(containerdConfigFlag); f.Value.String() == "true" {
		fmt.Fprintf(os.Stderr, "bench: -%s comes first, before its own flags\n", containerdConfigFlag)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.from != "" {
		b, err := loadBench(o.from)
		if err != nil {
			return err
		}
		return report(o, b)
	}
	if o.installOnly {
		ctx := context.Background()
		runcVer, err := moduleVersion(ctx, runcModule)
		if err != nil {
			return err
		}
		runc, err := buildRunc(ctx, o.cache, runcVer)
		if err != nil {
			return err
		}
		inst, err := installContainerd(ctx, o.cache, o.containerdVer, runc)
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
	b := &bench{Began: time.Now().UTC(), Load: []string{loadAvg()}}

	tools, err := installTools(ctx, o, b)
	if err != nil {
		return err
	}
	runc, pauseBin, ctrd, binaries := tools.runc, tools.pause, tools.containerd, tools.binaries
	critestBin := ""
	if o.critest {
		if critestBin, err = ensureCritest(ctx); err != nil {
			logf("critest benchmark left out: %v", err)
		}
	}

	env, err := newEnv(ctx, o.keep, pauseBin)
	if err != nil {
		return err
	}
	defer env.Close()

	cricket, err := env.startCricketd(ctx, o.cricketd, runc)
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
	var images []pullImage
	if o.pullCRI {
		logf("building the pull benchmark's images")
		if images, err = env.buildPullImages(ctx, o.cache); err != nil {
			return fmt.Errorf("pull images: %w", err)
		}
		b.Images = images
	}
	ws, errs := newWorkloads(ctx, env, targets)
	b.Errors = append(b.Errors, errs...)
	runAll(ctx, o, env, ws, images, critestBin, binaries, b)
	if len(b.Runs) == 0 {
		return fmt.Errorf("no run finished: %v", ctx.Err())
	}
	last := b.Runs[len(b.Runs)-1][len(targets)-1]
	if o.pullRuns > 0 && ctx.Err() == nil {
		logf("image pull + unpack throughput (test/bench/pull)")
		if last.Pull, err = runPullBench(ctx, env, o.pullMB, o.pullRuns, ctrdSocket, ctrBin); err != nil {
			last.fail("pull benchmark", err)
		}
	}
	b.Took = time.Since(b.Began)
	printMachine(os.Stdout)
	if o.jsonOut != "" {
		if err := saveBench(o.jsonOut, b); err != nil {
			return err
		}
	}
	if err := report(o, b); err != nil {
		return err
	}
	fmt.Printf("\nwhole run: %s\n", b.Took.Round(time.Second))
	return nil
}

// runAll does o.runs runs of every workload (and of the CRI pulls) and
// adds each finished run to b.
func runAll(ctx context.Context, o options, env *env, ws []*workload, images []pullImage, critestBin string, binaries []string, b *bench) {
	b.CachesDropped = true
	for run := 0; run < max(o.runs, 1) && ctx.Err() == nil; run++ {
		logf("run %d of %d (load %s)", run+1, o.runs, loadAvg())
		rs := measure(ctx, o, env, ws, run, critestBin, binaries)
		if len(images) > 0 && ctx.Err() == nil {
			logf("run %d: CRI pulls", run+1)
			b.CachesDropped = pullRound(ctx, o, ws, rs, images, run) && b.CachesDropped
		}
		if ctx.Err() != nil && len(b.Runs) > 0 {
			// Cancelled (^C, -timeout) during this run: keep the finished
			// runs only, so that a run cut short does not count.
			logf("run %d cut short: left out", run+1)
			break
		}
		b.Runs = append(b.Runs, rs)
		b.Load = append(b.Load, loadAvg())
	}
}

// tools are the binaries a run needs besides cricketd.
type tools struct {
	runc, pause string
	containerd  *containerdInstall // nil without -compare
	// binaries are the files the runtimes' per-pod processes run.
	binaries []string
}

// installTools builds (once, into the cache) runc's CLI at the version of
// the libcontainer Cricket embeds, for containerd and for Cricket's runc
// handler alike; the C pause; and with -compare containerd.
func installTools(ctx context.Context, o options, b *bench) (*tools, error) {
	runcVer, err := moduleVersion(ctx, runcModule)
	if err != nil {
		return nil, err
	}
	t := &tools{}
	if t.runc, err = buildRunc(ctx, o.cache, runcVer); err != nil {
		return nil, err
	}
	if t.pause, err = buildPause(ctx, o.cache); err != nil {
		return nil, err
	}
	b.Versions = []string{"runc " + runcVer + " (built from the module proxy) for containerd and the runc handler", "pause: static C (gcc), pause/pause.c"}
	t.binaries = []string{t.runc, filepath.Join(filepath.Dir(o.cricketd), "cricket-shim")}
	if o.compare {
		if t.containerd, err = installContainerd(ctx, o.cache, o.containerdVer, t.runc); err != nil {
			return nil, err
		}
		b.Versions = append(b.Versions, "containerd "+o.containerdVer+" (CRI plugin, io.containerd.runc.v2)")
		t.binaries = append(t.binaries, filepath.Join(t.containerd.BinDir, "containerd-shim-runc-v2"))
	}
	return t, nil
}

// bench is everything one invocation measured.
type bench struct {
	Began         time.Time
	Took          time.Duration
	Versions      []string
	Load          []string    // load average before the first run and after each
	Runs          [][]*result // per run, per target
	Images        []pullImage // of the CRI pulls
	CachesDropped bool        // the page cache was dropped before every pull
	Errors        []string
}

func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(raw))[:3], " ")
}

// report prints the table and draws the plot (every run's samples).
func report(o options, b *bench) error {
	printBench(os.Stdout, b)
	if o.plot != "" {
		if err := writePlot(o.plot, mergeRuns(b.Runs)); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		fmt.Printf("\nlatency plot: %s\n", o.plot)
	}
	return nil
}

func saveBench(path string, b *bench) error {
	raw, err := json.MarshalIndent(b, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

func loadBench(path string) (*bench, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var b bench
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &b, nil
}

// logf prints a progress line on stderr, so that stdout holds the report.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
