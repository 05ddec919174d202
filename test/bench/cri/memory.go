package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// density is the memory and time figures of many sleeping pods.
type density struct {
	Pods                  int
	StartWall, RemoveWall time.Duration
	DaemonBefore          memUsage // idle daemon, no pods
	Settled               memSnap  // settle (10 s) after the last start
	Polled                memSnap  // after the polling that follows
	PollFor               time.Duration
	// Relist is the time of each kubelet-like relist during the polling:
	// ListPodSandbox, ListContainers, then PodSandboxStatus and
	// ContainerStatus of each.
	Relist []time.Duration
}

// memSnap is what a runtime holds for its pods at one instant: the
// daemon, the per-pod monitors (shims), and the pause processes of
// runtimes that run one per pod.
type memSnap struct {
	Daemon            memUsage
	Shims, Pause      memUsage
	ShimProcs, Pauses int
}

// perPod is everything the runtime adds per pod: daemon growth, shims and
// pause processes, in KiB.
func (d *density) perPod(s memSnap) memUsage {
	n := max(d.Pods, 1)
	t := s.Shims.add(s.Pause)
	t.RSS += s.Daemon.RSS - d.DaemonBefore.RSS
	t.PSS += s.Daemon.PSS - d.DaemonBefore.PSS
	t.PSSAnon += s.Daemon.PSSAnon - d.DaemonBefore.PSSAnon
	return memUsage{RSS: t.RSS / n, PSS: t.PSS / n, PSSAnon: t.PSSAnon / n}
}

// densityRun starts n pods of one sleeping container on each target (one
// target per daemon: a daemon's growth cannot be split between two
// handlers), reads every runtime's memory settle after the last start,
// polls every runtime as a kubelet does for poll (relist every second,
// stats every 10 s), reads the memory again and removes the pods. The
// pods of every runtime are up together, so that the machine's load
// during the idle and polled phases falls on all alike. The binaries of
// the runtimes' per-pod processes are dropped from the page cache first,
// so that none is read from large folios of a freshly written file.
func densityRun(ctx context.Context, ws []*workload, rs []*result, o options, binaries []string) {
	dropFileCaches(binaries)
	type entry struct {
		w    *workload
		r    *result
		d    *density
		pods []*startedPod
	}
	var es []*entry
	seen := map[int]bool{}
	for i, w := range ws {
		if w.broken || seen[w.t.DaemonPID] {
			continue
		}
		seen[w.t.DaemonPID] = true
		es = append(es, &entry{w: w, r: rs[i], d: &density{Pods: o.density, PollFor: o.poll}})
	}
	time.Sleep(o.settle) // let the daemons settle after the previous workloads
	for _, e := range es {
		var err error
		if e.d.DaemonBefore, err = readMem(e.w.t.DaemonPID); err != nil {
			e.r.fail("density", err)
			continue
		}
		logf("%s: density: start %d pods", e.w.t.Name, o.density)
		e.pods, e.d.StartWall, err = e.w.startMany(ctx, o.density, o.densityParallel, false)
		if err != nil {
			e.r.fail("density start", err)
		}
	}
	snap := func(e *entry) memSnap {
		s, err := e.w.memSnap(e.pods)
		if err != nil {
			e.r.fail("density memory", err)
		}
		return s
	}
	time.Sleep(o.settle)
	for _, e := range es {
		e.d.Settled = snap(e)
	}
	if o.poll > 0 {
		logf("density: %s of kubelet-like polling", o.poll)
		var wg sync.WaitGroup
		for _, e := range es {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				e.d.Relist, err = e.w.poll(ctx, o.poll)
				if err != nil {
					e.r.fail("density polling", err)
				}
			}()
		}
		wg.Wait()
		for _, e := range es {
			e.d.Polled = snap(e)
		}
	}
	for _, e := range es {
		var err error
		e.d.RemoveWall, err = e.w.removeMany(ctx, e.pods, o.densityParallel)
		if err != nil {
			e.r.fail("density remove", err)
		}
		e.r.Density = e.d
	}
}

// poll calls the runtime as a kubelet does for d: a relist every second
// (ListPodSandbox and ListContainers; every 10 s also the status of each,
// timed), and the stats of every pod and container every 10 s.
func (w *workload) poll(ctx context.Context, d time.Duration) ([]time.Duration, error) {
	var relists []time.Duration
	podStatsFailed := false
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		t0 := time.Now()
		pods, err := w.t.RT.ListPodSandbox(cctx, &runtimeapi.ListPodSandboxRequest{})
		if err == nil {
			var ctrs *runtimeapi.ListContainersResponse
			ctrs, err = w.t.RT.ListContainers(cctx, &runtimeapi.ListContainersRequest{})
			if err == nil && i%10 == 0 {
				err = w.statuses(cctx, pods.Items, ctrs.Containers)
				relists = append(relists, time.Since(t0))
				if err == nil {
					_, err = w.t.RT.ListContainerStats(cctx, &runtimeapi.ListContainerStatsRequest{})
				}
				if err == nil && !podStatsFailed {
					// containerd cannot give the stats of a pod without a
					// cgroup parent (the benchmark's pods have none): noted
					// once, and the polling goes on without them.
					if _, perr := w.t.RT.ListPodSandboxStats(cctx, &runtimeapi.ListPodSandboxStatsRequest{}); perr != nil {
						podStatsFailed = true
						logf("%s: ListPodSandboxStats left out of the polling: %v", w.t.Name, firstLine(perr.Error()))
					}
				}
			}
		}
		cancel()
		if err != nil {
			return relists, err
		}
		select {
		case <-ctx.Done():
			return relists, ctx.Err()
		case <-time.After(time.Until(t0.Add(time.Second))):
		}
	}
	return relists, nil
}

func (w *workload) statuses(ctx context.Context, pods []*runtimeapi.PodSandbox, ctrs []*runtimeapi.Container) error {
	for _, p := range pods {
		if _, err := w.t.RT.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.Id}); err != nil {
			return err
		}
	}
	for _, c := range ctrs {
		if _, err := w.t.RT.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id}); err != nil {
			return err
		}
	}
	return nil
}

// memSnap reads the memory of the daemon and of the per-pod processes of
// pods: each pod's monitor (a process whose command line names the pod's
// ID: Cricket's `__shim --pod ID`, containerd's `-id ID`) and the pause
// processes among its children.
func (w *workload) memSnap(pods []*startedPod) (memSnap, error) {
	var s memSnap
	var err error
	if s.Daemon, err = readMem(w.t.DaemonPID); err != nil {
		return s, err
	}
	ids := make(map[string]bool, len(pods))
	for _, p := range pods {
		ids[p.id] = true
	}
	procs := processTable()
	shims := map[int]bool{}
	for pid, p := range procs {
		if pid == w.t.DaemonPID || p.comm == "runc" || p.comm == "runc:[2:INIT]" {
			continue
		}
		for _, a := range p.args {
			if ids[a] {
				shims[pid] = true
				break
			}
		}
	}
	for pid := range shims {
		if m, err := readMem(pid); err == nil {
			s.Shims, s.ShimProcs = s.Shims.add(m), s.ShimProcs+1
		}
	}
	for pid, p := range procs {
		if p.comm == "pause" && shims[p.ppid] {
			if m, err := readMem(pid); err == nil {
				s.Pause, s.Pauses = s.Pause.add(m), s.Pauses+1
			}
		}
	}
	if s.ShimProcs < len(pods) {
		return s, fmt.Errorf("found %d per-pod monitors for %d pods", s.ShimProcs, len(pods))
	}
	return s, nil
}

type proc struct {
	ppid int
	comm string
	args []string
}

// processTable reads the parent, name and arguments of every process.
func processTable() map[int]proc {
	out := map[int]proc{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parens.
		open, closing := strings.IndexByte(string(stat), '('), strings.LastIndexByte(string(stat), ')')
		if open < 0 || closing < open {
			continue
		}
		f := strings.Fields(string(stat[closing+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out[pid] = proc{ppid: ppid, comm: string(stat[open+1 : closing]), args: strings.Split(string(cmdline), "\x00")}
	}
	return out
}

// dropFileCaches writes back and drops the page cache of each file (pages
// mapped by a running process stay).
func dropFileCaches(paths []string) {
	for _, p := range paths {
		if err := dropFileCache(p); err != nil {
			logf("drop the page cache of %s: %v", p, err)
		}
	}
}

func dropFileCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return errors.Join(unix.Fdatasync(int(f.Fd())), unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
