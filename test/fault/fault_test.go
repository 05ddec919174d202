// Package fault is Cricket's fault-injection test: randomised pod and
// container lifecycles against a cricketd that is SIGKILLed and restarted
// at random moments, with shims killed too, followed by checks that the
// runtime's answers match what its client was told and that nothing is
// left on the host. `make fault` runs it in full; the defaults are the
// bounded CI run.
package fault

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// envInt reads a positive integer setting from the environment.
func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// TestFault runs CRICKET_FAULT_LIFECYCLES pod lifecycles (default 40),
// CRICKET_FAULT_INFLIGHT at a time (default 8), while the daemon is
// SIGKILLed about every CRICKET_FAULT_KILL_EVERY_MS (default 1500) and a
// shim about every CRICKET_FAULT_SHIM_KILL_EVERY_MS (default 3000).
// CRICKET_FAULT_SEED replays a run (the lifecycles' pod options exactly;
// the timing of kills as far as scheduling allows).
// CRICKET_FAULT_CGROUP_DRIVER (cgroupfs, the default, or systemd) is the
// daemon's cgroup_driver.
func TestFault(t *testing.T) {
	testutil.RequireRoot(t)
	lifecycles := envInt(t, "CRICKET_FAULT_LIFECYCLES", 40)
	parallel := envInt(t, "CRICKET_FAULT_INFLIGHT", 8)
	killEvery := time.Duration(envInt(t, "CRICKET_FAULT_KILL_EVERY_MS", 1500)) * time.Millisecond
	shimEvery := time.Duration(envInt(t, "CRICKET_FAULT_SHIM_KILL_EVERY_MS", 3000)) * time.Millisecond
	seed := int64(envInt(t, "CRICKET_FAULT_SEED", int(time.Now().UnixNano()%1e9)))
	rand.Seed(seed) //nolint:staticcheck // a replayable run needs the global source seeded
	t.Logf("seed %d (CRICKET_FAULT_SEED replays it): %d lifecycles, %d in flight", seed, lifecycles, parallel)

	driver := os.Getenv("CRICKET_FAULT_CGROUP_DRIVER")
	if _, err := os.Stat("/run/systemd/system"); driver == "systemd" && err != nil {
		// The executors' systemd cgroup manager needs a running systemd.
		t.Skip("CRICKET_FAULT_CGROUP_DRIVER=systemd: systemd is not running on this host (no /run/systemd/system)")
	}
	layout, err := detectCgroupLayout("/sys/fs/cgroup", driver)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cgroups: %s", layout)

	dir := t.TempDir()
	searchableByOthers(t, dir)
	m := harness.StartMirror(t, busyboxRef, httpdRef)
	n := newPodNet(t, dir, 40)
	rulesBefore, err := saveRules()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rulesBefore.skipped {
		t.Logf("iptables check: %s, not compared", s)
	}
	d := newDaemon(t, dir, m, n, driver)
	d.Start()
	support, err := probeHostSupport(context.Background(), d.Runtime())
	if err != nil {
		t.Fatal(err)
	}
	if support.userns != "" {
		t.Logf("pod option user namespace: not used: %s", support.userns)
	}
	sn := newSeen()
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			logPath := filepath.Join(os.TempDir(), fmt.Sprintf("cricket-fault-%d.log", seed))
			_ = os.WriteFile(logPath, []byte(d.Log()), 0o644)
			shimLogs := filepath.Join(os.TempDir(), fmt.Sprintf("cricket-fault-%d-shims", seed))
			_ = sn.saveShimLogs(shimLogs)
			t.Logf("daemon log: %s, shim logs: %s", logPath, shimLogs)
		}
	})
	w := &world{
		d: d, rt: d.Runtime(), img: d.Image(),
		logDir: filepath.Join(dir, "logs"), runID: fmt.Sprint(seed),
		shimKilled: map[string]bool{}, shimKillAt: map[string]int64{}, removed: map[string]string{}, killsDuring: map[string]int{},
		cgroups: layout, seed: seed, support: support,
	}
	if err := w.pull(busyboxRef, true); err != nil {
		t.Fatal(err)
	}
	baseSnaps := snapshotDirs(d)

	stop := make(chan struct{})
	var bg sync.WaitGroup
	for _, f := range []func(){
		func() { w.killer(stop, killEvery) },
		func() { w.shimKiller(stop, shimEvery) },
		func() { w.puller(stop) },
		func() { sn.run(d, stop) },
	} {
		bg.Add(1)
		go func() { defer bg.Done(); f() }()
	}
	start := time.Now()
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := 0; i < lifecycles && !w.aborted.Load(); i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			// A few pods stay for the final check of what runs.
			w.lifecycle(i, rand.Intn(8) == 0)
		}(i)
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	workload := time.Since(start)
	if w.aborted.Load() {
		for _, f := range w.failures {
			t.Error(f)
		}
		t.Fatalf("aborted after %v: the daemon could not be restarted", workload)
	}

	w.checkFinal(t)
	w.removeEverything(t)
	sn.sample(d)
	leaks := w.leaks(d, n, sn, baseSnaps)
	d.Stop()
	// Nothing may run once the daemon is gone either.
	for pid, cmdline := range procsOf(d) {
		leaks = append(leaks, fmt.Sprintf("process after daemon stop: %d %s", pid, cmdline))
	}
	rulesAfter, err := saveRules()
	if err != nil {
		t.Error(err)
	}
	for _, r := range diffRules(rulesBefore, rulesAfter) {
		leaks = append(leaks, "iptables rule: "+r)
	}
	for _, l := range w.explainLeaks(d, sn.recs, leaks) {
		t.Error("leak: " + l)
	}
	w.mu.Lock()
	for _, f := range w.failures {
		t.Error(f)
	}
	kills := make([]string, 0, len(w.killsDuring))
	for m, k := range w.killsDuring {
		kills = append(kills, fmt.Sprintf("%s=%d", m, k))
	}
	sort.Strings(kills)
	w.mu.Unlock()
	t.Logf("fault summary: lifecycles %d (completed %d, kept to the end %d, disrupted by shim kills %d; pods %s) in %v; "+
		"daemon kills %d (RPCs in flight at the kill: %s; gaps widened to the slowest step's pace %d, widest floor %v); shim kills %d; expected RPC errors %d (daemon kill %d, shim kill %d, short deadline %d); "+
		"pods adopted after a lost reply %d, new pod attempts %d, containers adopted %d, \"reserved\" answers with no pod listed %d; pulls %d, execs %d; "+
		"shared-PID stops checked %d (processes left %d); leaks found %d; failures %d",
		w.lifecycles.Load(), w.completed.Load(), w.kept.Load(), w.disrupted.Load(), w.optionCounts(), workload.Round(time.Second),
		w.daemonKills.Load(), strings.Join(kills, " "), w.pacedKills.Load(), time.Duration(w.widestFloor.Load()).Round(10*time.Millisecond), w.shimKills.Load(), w.expectedErrs.Load(), w.byDaemonKill.Load(), w.byShimKill.Load(), w.byDeadline.Load(),
		w.adoptedPods.Load(), w.newAttempts.Load(), w.adoptedCtrs.Load(), w.reservedButUnlisted.Load(), w.pulls.Load(), w.execs.Load(),
		w.sharedPIDStops.Load(), w.sharedPIDLeft.Load(), len(leaks), len(w.failures))
}

// optionCounts says how many pods had each option.
func (w *world) optionCounts() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var shared, hostNet, userns, ports int
	for _, p := range w.pods {
		if p.opts.sharedPID {
			shared++
		}
		if p.opts.hostNetwork {
			hostNet++
		}
		if p.opts.userns {
			userns++
		}
		if p.opts.hostPort != 0 {
			ports++
		}
	}
	return fmt.Sprintf("shared-pid %d, host-network %d, userns %d, host-port %d", shared, hostNet, userns, ports)
}

// searchableByOthers makes dir and its parents up to the temp dir
// searchable by others (as /run is): in a user-namespace pod, container
// root is an unprivileged host uid that opens its bundle's rootfs by path,
// and the daemon advertises user namespaces only when it can.
func searchableByOthers(t *testing.T, dir string) {
	t.Helper()
	for p := dir; strings.HasPrefix(p, os.TempDir()+"/"); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
}

// checkFinal compares what the daemon lists with what the client
// believes: removed objects are gone; a container believed running runs
// (or, when its shim was killed, is reported exited with a reason); one
// believed exited reports its true exit code.
func (w *world) checkFinal(t *testing.T) {
	var pods *runtimeapi.ListPodSandboxResponse
	var ctrs *runtimeapi.ListContainersResponse
	if err := w.sure("ListPodSandbox", func(ctx context.Context) (err error) {
		pods, err = w.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.sure("ListContainers", func(ctx context.Context) (err error) {
		ctrs, err = w.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	removed := w.removed
	known := map[string]bool{}
	for _, p := range w.pods {
		known[p.id] = true
		for _, c := range p.ctrs {
			known[c.id] = true
		}
	}
	w.mu.Unlock()
	for _, p := range pods.Items {
		if removed[p.Id] != "" {
			w.failf("removed pod %s (%s) is still listed, %v", short(p.Id), p.Metadata.Name, p.State)
		} else if !known[p.Id] {
			w.failf("pod %s (%s attempt %d, %v) was never reported to the client", short(p.Id), p.Metadata.Name, p.Metadata.Attempt, p.State)
		}
	}
	for _, c := range ctrs.Containers {
		if removed[c.Id] != "" {
			w.failf("removed container %s (%s) is still listed, %v", short(c.Id), c.Metadata.Name, c.State)
		} else if !known[c.Id] {
			w.failf("container %s (%s, pod %s, %v) was never reported to the client", short(c.Id), c.Metadata.Name, short(c.PodSandboxId), c.State)
		}
	}
	for _, p := range w.pods {
		if !p.kept {
			continue
		}
		for _, c := range p.ctrs {
			w.checkKept(p, c)
		}
		w.checkKeptPod(p)
	}
}

// checkKeptPod: a pod is ready while its shim lives and not ready (within
// a few seconds) once the shim was killed: the kubelet must replace it.
func (w *world) checkKeptPod(p *podModel) {
	want := runtimeapi.PodSandboxState_SANDBOX_READY
	if w.wasShimKilled(p.id) {
		want = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	}
	var got runtimeapi.PodSandboxState
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var st *runtimeapi.PodSandboxStatusResponse
		if err := w.sure("PodSandboxStatus", func(ctx context.Context) (err error) {
			st, err = w.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.id})
			return err
		}); err != nil {
			w.failf("kept pod %s: %v", short(p.id), err)
			return
		}
		if got = st.Status.State; got == want {
			return
		}
	}
	w.failf("kept pod %s (shim killed: %v) is %v, want %v", short(p.id), w.wasShimKilled(p.id), got, want)
}

func (w *world) checkKept(p *podModel, c *ctrModel) {
	st, err := w.ctrStatus(c.id)
	if err != nil {
		w.failf("kept container %s: %v", short(c.id), err)
		return
	}
	switch {
	case c.kind == kindExit || c.exited:
		if st.State != runtimeapi.ContainerState_CONTAINER_EXITED {
			w.failf("kept container %s exited before but is %v now", short(c.id), st.State)
			return
		}
		w.checkExit(p, c, st)
	case st.State == runtimeapi.ContainerState_CONTAINER_RUNNING:
		// Running must mean running: it answers exec.
		w.checkExec(p, c)
	case w.wasShimKilled(p.id) && st.State == runtimeapi.ContainerState_CONTAINER_EXITED:
		if st.Reason == "" || st.FinishedAt == 0 {
			w.failf("kept container %s of a pod whose shim was killed: exited without reason or finish time: %+v", short(c.id), st)
		}
	default:
		w.failf("kept container %s should run but is %v (reason %q, exit %d)", short(c.id), st.State, st.Reason, st.ExitCode)
	}
}

// removeEverything removes every pod left, as a kubelet draining the node.
func (w *world) removeEverything(t *testing.T) {
	var pods *runtimeapi.ListPodSandboxResponse
	if err := w.sure("ListPodSandbox", func(ctx context.Context) (err error) {
		pods, err = w.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		w.removePod(p.Id)
	}
	_, _ = w.img.RemoveImage(context.Background(), &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: httpdRef}})
	if err := w.sure("ListPodSandbox", func(ctx context.Context) (err error) {
		pods, err = w.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		w.failf("pod %s still listed after RemovePodSandbox", short(p.Id))
	}
	var ctrs *runtimeapi.ListContainersResponse
	if err := w.sure("ListContainers", func(ctx context.Context) (err error) {
		ctrs, err = w.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range ctrs.Containers {
		w.failf("container %s still listed after its pod was removed", short(c.Id))
	}
}

// leaks lists what the daemon left once every pod is gone.
func (w *world) leaks(d *daemon, n *podNet, sn *seen, baseSnaps []string) []string {
	var out []string
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if strings.Contains(line, d.Dir) {
			out = append(out, "mount: "+line)
		}
	}
	for pid, cmdline := range procsOf(d) {
		out = append(out, fmt.Sprintf("process: %d %s", pid, cmdline))
	}
	sn.mu.Lock()
	for pid := range sn.podInits {
		if cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline"); err == nil && strings.Contains(string(cmdline), "podinit") {
			out = append(out, "pod init: "+pid)
		}
	}
	sn.mu.Unlock()
	// Pod inits no record names (a user-namespace pod's transient one)
	// are found by the binary they run.
	for pid, cmdline := range podInitsOf(d) {
		out = append(out, fmt.Sprintf("pod init process: %d %s", pid, cmdline))
	}
	var ids []string
	w.mu.Lock()
	for _, p := range w.pods {
		ids = append(ids, p.id)
	}
	for id, kind := range w.removed {
		if kind == "pod" {
			ids = append(ids, id)
		}
	}
	w.mu.Unlock()
	prefixes := sn.prefixes(ids)
	ctrPrefixes := sn.ctrPrefixes(w.containerIDs())
	for _, dir := range w.cgroups.leaks(prefixes, ctrPrefixes) {
		out = append(out, "cgroup: "+dir)
	}
	out = append(out, settledPodProcesses(w.cgroups.procMarkers(prefixes, ctrPrefixes))...)
	for _, name := range dirNames(filepath.Join(d.State, "idmap")) {
		out = append(out, "idmapped mount dir: "+filepath.Join("idmap", name))
	}
	for _, sub := range []string{"pods", "containers"} {
		entries, _ := os.ReadDir(filepath.Join(d.State, sub))
		for _, e := range entries {
			out = append(out, "state dir: "+filepath.Join(sub, e.Name()))
		}
	}
	_ = filepath.Walk(d.State, func(p string, info os.FileInfo, err error) error {
		if err == nil && filepath.Base(filepath.Dir(p)) == "ns" {
			out = append(out, "namespace file: "+p)
		}
		return nil
	})
	for _, bucket := range []string{"sandboxes", "containers"} {
		entries, _ := os.ReadDir(filepath.Join(d.Root, "meta", bucket))
		for _, e := range entries {
			out = append(out, "record: "+filepath.Join(bucket, e.Name()))
		}
	}
	base := map[string]bool{}
	for _, s := range baseSnaps {
		base[s] = true
	}
	for _, s := range snapshotDirs(d) {
		if !base[s] {
			out = append(out, "snapshot dir: "+s)
		}
	}
	return append(out, n.Leaks(d.Root)...)
}

// podInitsOf lists the running pod inits of d's shim binary (the one next
// to cricketd, run as "cricket-shim __podinit").
func podInitsOf(d *daemon) map[int]string {
	bin, err := filepath.Abs(filepath.Join(filepath.Dir(d.Bin), "cricket-shim"))
	if err != nil {
		return nil
	}
	out := map[int]string{}
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(args) < 2 || args[0] != bin || args[1] != "__podinit" {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(f)), "%d", &pid); err == nil {
			out[pid] = strings.Join(args, " ")
		}
	}
	return out
}

// containerIDs lists the IDs of every container the client was told of.
func (w *world) containerIDs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, p := range w.pods {
		for _, c := range p.ctrs {
			if c.id != "" {
				out = append(out, c.id)
			}
		}
	}
	for id, kind := range w.removed {
		if kind == "container" {
			out = append(out, id)
		}
	}
	return out
}

// settledPodProcesses is podProcesses once dead processes have been
// reaped: a container process whose shim was SIGKILLed is reparented to
// PID 1 and, once the pod's removal has killed it, stays a zombie until
// PID 1 reaps it (seen here: the VM's init took a moment). A process that
// is still there after 10 s is a leak whatever its state.
func settledPodProcesses(markers []string) []string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := podProcesses(markers)
		if len(out) == 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// podProcesses lists processes in a cgroup of a pod or container whose
// /proc/<pid>/cgroup names one of the markers (cgroupLayout.procMarkers):
// container processes that outlived their pod.
func podProcesses(markers []string) []string {
	var out []string
	files, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, m := range markers {
			if strings.Contains(string(raw), m) {
				cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(f), "cmdline"))
				stat, _ := os.ReadFile(filepath.Join(filepath.Dir(f), "stat"))
				out = append(out, fmt.Sprintf("process in %s: %s %s (stat: %s)", m, filepath.Base(filepath.Dir(f)), strings.ReplaceAll(string(cmdline), "\x00", " "), strings.TrimSpace(string(stat))))
				break
			}
		}
	}
	return out
}

// snapshotDirs lists the layer and container snapshot dirs.
func snapshotDirs(d *daemon) []string {
	entries, _ := os.ReadDir(filepath.Join(d.Root, "snapshots", "snapshots"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
