package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// result holds every figure measured for one target.
type result struct {
	Name string
	// Pod start: RunPodSandbox + CreateContainer + StartContainer.
	PodStartSeq, PodStartPar, PodStartHostNet      []time.Duration
	RunPodSandbox, CreateContainer, StartContainer []time.Duration // of the sequential run
	PodTeardown                                    []time.Duration // StopPodSandbox + RemovePodSandbox, sequential run
	StopPod, RemovePod                             []time.Duration // each of them
	// Phases of the sequential run from Cricket's metrics, by phase name.
	Phases     map[string]histStats
	phaseHists map[string]histogram // their histograms, summed over rounds
	// Container lifecycle in one pod.
	CtrCreateStart, CtrStop, CtrRemove, Exec []time.Duration
	Density                                  *density
	Critest                                  map[string]opStats       // "pod CreatePod" -> figures
	Pull                                     string                   // test/bench/pull's report
	Pulls                                    map[string]time.Duration // CRI PullImage by image label
	Errors                                   []string
	Took                                     time.Duration
}

func (r *result) fail(what string, err error) {
	logf("%s: %s: %v", r.Name, what, err)
	r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", what, err))
}

// measure runs every workload against every target. Targets take turns
// within each workload, and the latency workloads are split into rounds
// with the order of the targets rotated each round, so that a change of
// the machine's load during the run (this benchmark is often run on shared
// machines) does not fall on one target only. A failing workload is
// recorded and the next one still runs.
//
// Each run of measure is one full run of every workload; the order of the
// targets starts one further each run. binaries are the files the
// runtimes' per-pod processes run (dropped from the page cache before the
// density run).
func measure(ctx context.Context, o options, e *env, ws []*workload, run int, critestBin string, binaries []string) []*result {
	var rs []*result
	for _, w := range ws {
		rs = append(rs, &result{Name: w.t.Name})
	}
	rounds := max(o.rounds, 1)
	steps := []struct {
		name   string
		rounds int
		run    func(w *workload, r *result, round int) error
	}{
		{"pod start, sequential", rounds, func(w *workload, r *result, round int) error {
			if round == 0 && o.pprofDir != "" && w.t.MetricsURL != "" {
				done := profile(ctx, w.t, o.pprofDir, "podstart", o.pprofSeconds, o.trace)
				defer func() { r.Errors = append(r.Errors, <-done...) }()
			}
			return w.podStartSeq(ctx, share(o.pods, rounds, round), r)
		}},
		{"pod start, parallel", rounds, func(w *workload, r *result, round int) error {
			lat, err := w.podStartParallel(ctx, share(o.pods, rounds, round), o.parallel, false)
			r.PodStartPar = append(r.PodStartPar, lat...)
			return err
		}},
		{"pod start, hostNetwork", rounds, func(w *workload, r *result, round int) error {
			lat, err := w.podStartParallel(ctx, share(o.hostNetPods, rounds, round), 1, true)
			r.PodStartHostNet = append(r.PodStartHostNet, lat...)
			return err
		}},
		{"container lifecycle", rounds, func(w *workload, r *result, round int) error {
			if round == 0 && o.pprofDir != "" && w.t.MetricsURL != "" {
				done := profile(ctx, w.t, o.pprofDir, "containers", o.pprofSeconds, o.trace)
				defer func() { r.Errors = append(r.Errors, <-done...) }()
			}
			return w.containerLifecycle(ctx, share(o.containers, rounds, round), r)
		}},
		{"exec", rounds, func(w *workload, r *result, round int) error {
			return w.execSync(ctx, share(o.execs, rounds, round), r)
		}},
		{"critest --benchmark", 1, func(w *workload, r *result, _ int) error {
			if critestBin == "" || !o.critest {
				return nil
			}
			var err error
			r.Critest, err = runCritestBenchmark(ctx, critestBin, e, w.t, o.critestPods)
			return err
		}},
	}
	turn := run
	for _, s := range steps {
		for round := 0; round < s.rounds; round++ {
			for i := range ws {
				k := (i + turn) % len(ws)
				w, r := ws[k], rs[k]
				if w.broken {
					continue
				}
				if ctx.Err() != nil {
					r.fail(s.name, ctx.Err())
					continue
				}
				if round == 0 {
					logf("%s: %s", w.t.Name, s.name)
				}
				t0 := time.Now()
				if err := s.run(w, r, round); err != nil {
					r.fail(s.name, err)
					removeAll(ctx, w.t.RT)
				}
				r.Took += time.Since(t0)
			}
			turn++
		}
	}
	if o.density > 0 && ctx.Err() == nil {
		densityRun(ctx, ws, rs, o, binaries)
	}
	return rs
}

// share is round's part of n split into rounds parts.
func share(n, rounds, round int) int {
	return n/rounds + btoi(round < n%rounds)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// workload issues the CRI calls against one target.
type workload struct {
	t      *target
	logDir string
	seq    atomic.Int64
	broken bool // prepare failed: nothing is measured
}

// newWorkloads pulls the images on every target and warms each up.
func newWorkloads(ctx context.Context, e *env, targets []*target) ([]*workload, []string) {
	var ws []*workload
	var errs []string
	for _, t := range targets {
		w := &workload{t: t, logDir: filepath.Join(e.Dir, "logs", t.Name)}
		logf("%s: pull images, warm up", t.Name)
		if err := w.prepare(ctx); err != nil {
			logf("%s: prepare: %v", t.Name, err)
			errs = append(errs, fmt.Sprintf("%s: prepare: %v", t.Name, err))
			w.broken = true
		}
		ws = append(ws, w)
	}
	return ws, errs
}

// prepare pulls the images and starts and removes a few pods, so that the
// first measured pod does not pay for cold caches.
func (w *workload) prepare(ctx context.Context) error {
	refs := []string{busyboxImage}
	if w.t.NeedsSandboxImage {
		refs = append(refs, pauseImage)
	}
	for _, ref := range refs {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		_, err := w.t.IS.PullImage(pctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		cancel()
		if err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
	}
	for i := 0; i < 3; i++ {
		p, err := w.startPod(ctx, false, nil)
		if err != nil {
			return fmt.Errorf("warm-up pod: %w", err)
		}
		if err := w.removePod(ctx, p.id); err != nil {
			return err
		}
	}
	return nil
}

func (w *workload) podConfig(hostNet bool) *runtimeapi.PodSandboxConfig {
	n := w.seq.Add(1)
	name := fmt.Sprintf("bench-%d", n)
	ns := &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}
	hostname := name
	if hostNet {
		// The kubelet sets no hostname for host-network pods: they share
		// the node's UTS namespace (runc refuses a hostname there).
		ns.Network, hostname = runtimeapi.NamespaceMode_NODE, ""
	}
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "cricket-bench", Uid: fmt.Sprintf("uid-%s-%d", w.t.Name, n)},
		Hostname:     hostname,
		LogDirectory: filepath.Join(w.logDir, name),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent:    "",
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: ns},
		},
	}
}

// sleeper is one busybox container that sleeps and exits at once on
// SIGTERM (a shell as pid 1 with a trap; a bare sleep would ignore it). It
// logs "ready" once the trap is set.
func sleeper(name string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: busyboxImage},
		Command:  []string{"sh", "-c", "trap 'exit 0' TERM; echo ready; sleep 3600 & wait"},
		LogPath:  name + ".log",
	}
}

// waitReady waits up to 10 s for a sleeper's "ready" log line: a SIGTERM
// sent before its shell has set the trap is ignored (pid 1 of a pid
// namespace has no default signal actions), and Stop would wait its
// whole timeout.
func waitReady(ctx context.Context, logPath string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(logPath); err == nil && strings.Contains(string(b), " ready") {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("container did not log ready in %s within 10s", logPath)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startedPod is a pod with its one running container and the time of each
// call.
type startedPod struct {
	id, ctr                  string
	run, create, start, full time.Duration
}

// startPod runs a pod and one sleeping container in it. cfg nil makes a
// fresh pod config.
func (w *workload) startPod(ctx context.Context, hostNet bool, cfg *runtimeapi.PodSandboxConfig) (*startedPod, error) {
	if cfg == nil {
		cfg = w.podConfig(hostNet)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	p := &startedPod{}
	t0 := time.Now()
	resp, err := w.t.RT.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: w.t.Handler})
	if err != nil {
		return nil, fmt.Errorf("RunPodSandbox: %w", err)
	}
	p.id = resp.PodSandboxId
	t1 := time.Now()
	c, err := w.t.RT.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: p.id, Config: sleeper("app"), SandboxConfig: cfg})
	if err != nil {
		_ = w.removePod(ctx, p.id)
		return nil, fmt.Errorf("CreateContainer: %w", err)
	}
	p.ctr = c.ContainerId
	t2 := time.Now()
	if _, err := w.t.RT.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: p.ctr}); err != nil {
		_ = w.removePod(ctx, p.id)
		return nil, fmt.Errorf("StartContainer: %w", err)
	}
	t3 := time.Now()
	p.run, p.create, p.start, p.full = t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t3.Sub(t0)
	return p, nil
}

// removePod stops and removes a pod.
func (w *workload) removePod(ctx context.Context, id string) error {
	_, _, err := w.removePodTimed(ctx, id)
	return err
}

// removePodTimed stops and removes a pod and returns the time of each call.
func (w *workload) removePodTimed(ctx context.Context, id string) (stop, remove time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	if _, err := w.t.RT.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		return 0, 0, fmt.Errorf("StopPodSandbox %s: %w", id, err)
	}
	t1 := time.Now()
	if _, err := w.t.RT.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		return 0, 0, fmt.Errorf("RemovePodSandbox %s: %w", id, err)
	}
	return t1.Sub(t0), time.Since(t1), nil
}

// podStartSeq starts n pods one after the other, each removed before the
// next starts, and adds the phase histograms' growth over the run to r.
func (w *workload) podStartSeq(ctx context.Context, n int, r *result) error {
	if n <= 0 {
		return nil
	}
	before, berr := scrapeHistograms(ctx, w.t.MetricsURL, phaseMetric)
	for i := 0; i < n; i++ {
		p, err := w.startPod(ctx, false, nil)
		if err != nil {
			return err
		}
		r.PodStartSeq = append(r.PodStartSeq, p.full)
		r.RunPodSandbox = append(r.RunPodSandbox, p.run)
		r.CreateContainer = append(r.CreateContainer, p.create)
		r.StartContainer = append(r.StartContainer, p.start)
		stop, remove, err := w.removePodTimed(ctx, p.id)
		if err != nil {
			return err
		}
		r.PodTeardown = append(r.PodTeardown, stop+remove)
		r.StopPod, r.RemovePod = append(r.StopPod, stop), append(r.RemovePod, remove)
	}
	if w.t.MetricsURL == "" {
		return nil
	}
	after, aerr := scrapeHistograms(ctx, w.t.MetricsURL, phaseMetric)
	if err := errors.Join(berr, aerr); err != nil {
		return fmt.Errorf("phase metrics: %w", err)
	}
	if r.phaseHists == nil {
		r.phaseHists = map[string]histogram{}
	}
	r.Phases = map[string]histStats{}
	for phase, h := range after {
		r.phaseHists[phase] = r.phaseHists[phase].plus(h.minus(before[phase]))
		r.Phases[phase] = r.phaseHists[phase].stats()
	}
	return nil
}

// podStartParallel starts n pods with par workers and removes them
// afterwards (untimed), returning each pod's start latency.
func (w *workload) podStartParallel(ctx context.Context, n, par int, hostNet bool) ([]time.Duration, error) {
	if n <= 0 {
		return nil, nil
	}
	pods, _, err := w.startMany(ctx, n, par, hostNet)
	lat := make([]time.Duration, 0, len(pods))
	for _, p := range pods {
		lat = append(lat, p.full)
	}
	_, rerr := w.removeMany(ctx, pods, par)
	return lat, errors.Join(err, rerr)
}

// startMany starts n pods with par workers; it returns those started, the
// wall time, and the first error.
func (w *workload) startMany(ctx context.Context, n, par int, hostNet bool) ([]*startedPod, time.Duration, error) {
	var (
		mu    sync.Mutex
		pods  []*startedPod
		first error
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	t0 := time.Now()
	for range max(par, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				p, err := w.startPod(ctx, hostNet, nil)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if p != nil {
					pods = append(pods, p)
				}
				stop := first != nil
				mu.Unlock()
				if stop {
					return
				}
			}
		}()
	}
	wg.Wait()
	return pods, time.Since(t0), first
}

// removeMany stops and removes pods with par workers and returns the wall
// time.
func (w *workload) removeMany(ctx context.Context, pods []*startedPod, par int) (time.Duration, error) {
	var (
		mu    sync.Mutex
		first error
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	t0 := time.Now()
	for range max(par, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(pods)) {
					return
				}
				if err := w.removePod(ctx, pods[i].id); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(t0), first
}

// containerLifecycle creates+starts, stops and removes n containers one
// after the other in one pod.
func (w *workload) containerLifecycle(ctx context.Context, n int, r *result) error {
	if n <= 0 {
		return nil
	}
	cfg := w.podConfig(false)
	pod, err := w.startPod(ctx, false, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = w.removePod(ctx, pod.id) }()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		ctr := sleeper(fmt.Sprintf("c%d", i))
		c, err := w.t.RT.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.id, Config: ctr, SandboxConfig: cfg})
		if err != nil {
			return fmt.Errorf("CreateContainer: %w", err)
		}
		if _, err := w.t.RT.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
			return fmt.Errorf("StartContainer: %w", err)
		}
		t1 := time.Now()
		if err := waitReady(ctx, filepath.Join(cfg.LogDirectory, ctr.LogPath)); err != nil {
			return err
		}
		t1s := time.Now()
		if _, err := w.t.RT.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.ContainerId, Timeout: 10}); err != nil {
			return fmt.Errorf("StopContainer: %w", err)
		}
		t2 := time.Now()
		if _, err := w.t.RT.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.ContainerId}); err != nil {
			return fmt.Errorf("RemoveContainer: %w", err)
		}
		t3 := time.Now()
		r.CtrCreateStart = append(r.CtrCreateStart, t1.Sub(t0))
		r.CtrStop = append(r.CtrStop, t2.Sub(t1s))
		r.CtrRemove = append(r.CtrRemove, t3.Sub(t2))
	}
	return nil
}

// execSync runs `true` n times in one running container.
func (w *workload) execSync(ctx context.Context, n int, r *result) error {
	if n <= 0 {
		return nil
	}
	pod, err := w.startPod(ctx, false, nil)
	if err != nil {
		return err
	}
	defer func() { _ = w.removePod(ctx, pod.id) }()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		resp, err := w.t.RT.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: pod.ctr, Cmd: []string{"true"}, Timeout: 10})
		if err != nil {
			return fmt.Errorf("ExecSync: %w", err)
		}
		if resp.ExitCode != 0 {
			return fmt.Errorf("ExecSync true: exit %d, stderr %q", resp.ExitCode, resp.Stderr)
		}
		r.Exec = append(r.Exec, time.Since(t0))
	}
	return nil
}
