package fault

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// tracker counts the RPCs in flight by method, so that the killer can
// time its SIGKILL on one, and keeps how long recent successful calls of
// each method took, so that it can space its kills (killGapFloor).
type tracker struct {
	mu   sync.Mutex
	n    map[string]int
	took map[string][]time.Duration // the last recentCalls successful calls
	// kills counts daemon kills (kill), so that a call can tell one cut
	// it short.
	kills atomic.Int64
	// cut is how long the longest paced call the last kill cut short had
	// run.
	cut time.Duration
}

// recentCalls is how many successful calls per method tracker keeps.
const recentCalls = 64

var inflight = &tracker{n: map[string]int{}, took: map[string][]time.Duration{}}

func (tr *tracker) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	name := path.Base(method)
	tr.mu.Lock()
	tr.n[name]++
	tr.mu.Unlock()
	start, kills := time.Now(), tr.kills.Load()
	err := invoker(ctx, method, req, reply, cc, opts...)
	tr.mu.Lock()
	tr.n[name]--
	if err == nil {
		tr.took[name] = append(tr.took[name], time.Since(start))
		if len(tr.took[name]) > recentCalls {
			tr.took[name] = tr.took[name][1:]
		}
	} else if tr.kills.Load() != kills && slices.Contains(pacedMethods, name) {
		tr.cut = max(tr.cut, time.Since(start))
	}
	tr.mu.Unlock()
	return err
}

// kill notes a daemon kill, before it is sent.
func (tr *tracker) kill() {
	tr.mu.Lock()
	tr.cut = 0
	tr.mu.Unlock()
	tr.kills.Add(1)
}

// lastCut is how long the longest paced call the last kill cut short had
// run.
func (tr *tracker) lastCut() time.Duration {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.cut
}

func (tr *tracker) count(name string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.n[name]
}

// typical is the median time of the recent successful calls of method,
// 0 before the first.
func (tr *tracker) typical(method string) time.Duration {
	tr.mu.Lock()
	d := append([]time.Duration(nil), tr.took[method]...)
	tr.mu.Unlock()
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// busy lists the methods with calls in flight.
func (tr *tracker) busy() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for m, n := range tr.n {
		if n > 0 {
			out = append(out, m)
		}
	}
	return out
}

// Container kinds of the workload.
const (
	kindSleep = "sleep" // runs until stopped; exits 3 on SIGTERM
	kindExit  = "exit"  // exits with its code after a short delay
)

type ctrModel struct {
	name, kind, id string
	code           int32 // the exit code the client expects once exited
	exited         bool  // the client has seen or caused its exit
	removed        bool
}

type podModel struct {
	lc      int
	opts    podOptions
	cfg     *runtimeapi.PodSandboxConfig
	id      string
	ctrs    []*ctrModel
	removed bool
	kept    bool
}

// world is what the client (the kubelet of this test) believes, and the
// counts the test prints.
type world struct {
	d      *daemon
	rt     runtimeapi.RuntimeServiceClient
	img    runtimeapi.ImageServiceClient
	logDir string
	runID  string
	// epoch counts daemon kills: an RPC that spans one may fail any way.
	epoch atomic.Int64
	// down is set from just before a daemon kill until the restarted
	// daemon serves: an RPC begun meanwhile finds no daemon.
	down atomic.Bool
	// shimEpoch counts shim kills; shimKilledAt holds each killed pod's.
	shimEpoch atomic.Int64
	// unknownShimKill is the shimEpoch of the latest kill of the shim of
	// a pod the client did not know (one being created).
	unknownShimKill atomic.Int64
	// aborted is set when the daemon cannot be restarted: every loop
	// gives up at once.
	aborted atomic.Bool

	mu          sync.Mutex
	pods        []*podModel
	shimKilled  map[string]bool  // pod IDs whose shim the test killed
	shimKillAt  map[string]int64 // pod ID -> shimEpoch of the kill of its shim
	cgroups     cgroupLayout
	seed        int64
	support     hostSupport
	removed     map[string]string // IDs of removed pods and containers: "pod" or "container"
	failures    []string
	killsDuring map[string]int
	lastKill    killNote

	lifecycles, completed, kept, disrupted atomic.Int64
	daemonKills, shimKills, expectedErrs   atomic.Int64
	adoptedPods, adoptedCtrs, newAttempts  atomic.Int64
	pulls, pullKills, reservedButUnlisted  atomic.Int64
	execs                                  atomic.Int64
	// Expected errors by what explains them (explain).
	byDaemonKill, byShimKill, byDeadline atomic.Int64
	// sharedPIDStops counts StopContainer checks in shared-PID pods;
	// sharedPIDLeft those that found a process of the container left.
	sharedPIDStops, sharedPIDLeft atomic.Int64
	// pacedKills counts kill gaps killGapFloor widened; widestFloor is
	// the widest floor, in nanoseconds.
	pacedKills, widestFloor atomic.Int64
}

func (w *world) abort() { w.aborted.Store(true) }

// giveUp says whether a retry loop begun at start should end.
func (w *world) giveUp(start time.Time, limit time.Duration) bool {
	return w.aborted.Load() || time.Since(start) > limit
}

func (w *world) failf(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures = append(w.failures, fmt.Sprintf(format, args...))
}

func (w *world) wasShimKilled(podID string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.shimKilled[podID]
}

// try makes one attempt at an RPC the kubelet's way: mostly with a
// generous deadline, sometimes with one so short that the daemon is still
// working when the client gives up. expected says whether something
// explains the error (explain): a daemon kill during the call, a kill of
// the shim of pod podID (when not "") during the call, or the short
// deadline the workload chose. Any other error fails the run.
func (w *world) try(podID string, fn func(ctx context.Context) error) (err error, expected bool) {
	err, why := w.tryWhy(podID, fn)
	return err, why != ""
}

// tryWhy is try that says what explains an error (explain's answer; ""
// when nothing does).
func (w *world) tryWhy(podID string, fn func(ctx context.Context) error) (err error, why string) {
	timeout := 60 * time.Second
	if rand.Intn(10) == 0 {
		timeout = time.Duration(20+rand.Intn(800)) * time.Millisecond
	}
	downAtStart, epoch, shimEpoch := w.down.Load(), w.epoch.Load(), w.shimEpoch.Load()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err = fn(ctx)
	cancel()
	if err == nil {
		return nil, ""
	}
	f := attemptFacts{
		code:          status.Code(err),
		daemonKilled:  downAtStart || epoch != w.epoch.Load(),
		shortDeadline: timeout < time.Second,
	}
	switch podID {
	case "":
	case creatingPod:
		// The shim of a pod the client does not know yet: its own.
		f.shimKilled = w.unknownShimKill.Load() > shimEpoch
	default:
		w.mu.Lock()
		at, killed := w.shimKillAt[podID]
		w.mu.Unlock()
		f.shimKilled = killed && at > shimEpoch
	}
	why = explain(f)
	switch why {
	case byDaemonKill:
		w.byDaemonKill.Add(1)
	case byShimKill:
		w.byShimKill.Add(1)
	case byDeadline:
		w.byDeadline.Add(1)
	default:
		return err, ""
	}
	w.expectedErrs.Add(1)
	return err, why
}

// creatingPod, as try's podID, is the pod a RunPodSandbox creates: a kill
// of the shim of any pod the client does not know yet explains its error.
const creatingPod = "(creating)"

// sure repeats a read-only RPC until it answers (a restart takes a while).
func (w *world) sure(what string, fn func(ctx context.Context) error) error {
	var err error
	for start := time.Now(); !w.giveUp(start, 2*time.Minute); time.Sleep(100 * time.Millisecond) {
		var expected bool
		if err, expected = w.try("", fn); err == nil || !expected {
			return err
		}
	}
	return fmt.Errorf("%s: no answer within 2m: %w", what, err)
}

var errPodLost = errors.New("pod lost")

// opTimeout bounds how long the client insists on one step.
func (w *world) opTimeout(p *podModel) time.Duration {
	if p.id != "" && w.wasShimKilled(p.id) {
		return 20 * time.Second
	}
	return 2 * time.Minute
}

func backoffSleep(i int) {
	d := time.Duration(50*(1<<min(i, 5))) * time.Millisecond
	time.Sleep(d/2 + time.Duration(rand.Int63n(int64(d))))
}

// lifecycle runs one pod from RunPodSandbox to RemovePodSandbox (or keeps
// it for the final check).
func (w *world) lifecycle(lc int, keep bool) {
	w.lifecycles.Add(1)
	o := choosePodOptions(w.seed, lc, w.support)
	p := &podModel{lc: lc, opts: o, cfg: w.podConfig(lc, 0, o)}
	w.mu.Lock()
	w.pods = append(w.pods, p)
	w.mu.Unlock()
	if err := w.ensurePod(p); err != nil {
		w.failf("lifecycle %d: %v", lc, err)
		return
	}
	n := 1 + rand.Intn(3)
	for i := 0; i < n; i++ {
		c := &ctrModel{name: fmt.Sprintf("c%d", i), kind: kindSleep}
		if rand.Intn(2) == 0 {
			c.kind, c.code = kindExit, int32(rand.Intn(6))
		}
		p.ctrs = append(p.ctrs, c)
		if err := w.runContainer(p, c); err != nil {
			if w.wasShimKilled(p.id) {
				w.disrupted.Add(1)
				w.teardown(p, false)
				return
			}
			w.failf("lifecycle %d pod %s container %s: %v", lc, short(p.id), c.name, err)
			w.teardown(p, false)
			return
		}
	}
	for _, c := range p.ctrs {
		w.exercise(p, c)
	}
	if keep {
		p.kept = true
		w.kept.Add(1)
		return
	}
	w.teardown(p, rand.Intn(2) == 0)
	w.completed.Add(1)
}

func (w *world) podConfig(lc int, attempt uint32, o podOptions) *runtimeapi.PodSandboxConfig {
	name := fmt.Sprintf("fault-%d", lc)
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "fault", Uid: w.runID + "-" + name, Attempt: attempt},
		Hostname:     name,
		LogDirectory: filepath.Join(w.logDir, name, fmt.Sprint(attempt)),
		Labels:       map[string]string{"fault-run": w.runID, "lc": fmt.Sprint(lc)},
		Annotations:  map[string]string{"fault-options": o.String()},
	}
	o.apply(cfg)
	return cfg
}

// ensurePod runs the pod until the client knows its ID: after a failed
// RunPodSandbox it lists the pods of this lifecycle and takes the one of
// its attempt that is ready; a not-ready one is removed and the next
// attempt created, as the kubelet does.
func (w *world) ensurePod(p *podModel) error {
	reservedStreak := 0
	var log attemptLog
	for i, start := 0, time.Now(); !w.giveUp(start, 3*time.Minute); i++ {
		var resp *runtimeapi.RunPodSandboxResponse
		began := time.Now()
		err, why := w.tryWhy(creatingPod, func(ctx context.Context) (err error) {
			resp, err = w.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: p.cfg})
			return err
		})
		if err == nil {
			p.id = resp.PodSandboxId
			return nil
		}
		log.add(p.cfg.Metadata.Attempt, time.Since(began), err, why)
		if why == "" && status.Code(err) != codes.AlreadyExists {
			w.failf("lifecycle %d: RunPodSandbox: %v", p.lc, err)
		}
		var list *runtimeapi.ListPodSandboxResponse
		if err := w.sure("ListPodSandbox", func(ctx context.Context) (err error) {
			list, err = w.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
				LabelSelector: map[string]string{"fault-run": w.runID, "lc": fmt.Sprint(p.lc)}}})
			return err
		}); err != nil {
			return err
		}
		found := false
		for _, item := range list.Items {
			if item.Metadata.Attempt != p.cfg.Metadata.Attempt {
				continue
			}
			found = true
			if item.State == runtimeapi.PodSandboxState_SANDBOX_READY {
				p.id = item.Id
				w.adoptedPods.Add(1)
				return nil
			}
			// Not ready: the kubelet removes it and starts the next attempt.
			w.removePod(item.Id)
			p.cfg = w.podConfig(p.lc, p.cfg.Metadata.Attempt+1, p.opts)
			w.newAttempts.Add(1)
		}
		if status.Code(err) == codes.AlreadyExists && !found {
			w.reservedButUnlisted.Add(1)
			if reservedStreak++; reservedStreak > 50 {
				return fmt.Errorf("RunPodSandbox %s: name reserved and no pod listed, 50 times in a row: %v", p.cfg.Metadata.Name, err)
			}
		} else {
			reservedStreak = 0
		}
		backoffSleep(i)
	}
	return fmt.Errorf("RunPodSandbox %s: no pod within 3m: %s", p.cfg.Metadata.Name, log.String())
}

// attemptLog keeps what ended each failed RunPodSandbox of a lifecycle,
// for the report of one that never got its pod: a run of attempts each
// cut by the chaos (a starved lifecycle) reads differently from a daemon
// that can no longer make the pod.
type attemptLog struct {
	n      int
	byWhy  map[string]int
	recent []string
}

func (l *attemptLog) add(attempt uint32, took time.Duration, err error, why string) {
	if l.byWhy == nil {
		l.byWhy = map[string]int{}
	}
	if why == "" {
		why = "unexplained"
	}
	l.n++
	l.byWhy[why]++
	msg := status.Convert(err).Message()
	if len(msg) > 160 {
		msg = msg[:160] + "..."
	}
	l.recent = append(l.recent, fmt.Sprintf("attempt %d after %s: %s (%s): %s", attempt, took.Round(10*time.Millisecond), status.Code(err), why, msg))
	if len(l.recent) > 8 {
		l.recent = l.recent[1:]
	}
}

func (l *attemptLog) String() string {
	whys := slices.Sorted(maps.Keys(l.byWhy))
	counts := make([]string, 0, len(whys))
	for _, why := range whys {
		counts = append(counts, fmt.Sprintf("%s %d", why, l.byWhy[why]))
	}
	return fmt.Sprintf("%d failed calls (%s); the last: %s", l.n, strings.Join(counts, ", "), strings.Join(l.recent, "; "))
}

// ctrConfig: a sleeper runs until stopped (exit 3 on SIGTERM), the
// other kind exits with its code after a moment. Both start a child in the
// background first: in a pod that shares its PID namespace, that child
// outlives the container's main process unless the runtime kills what is
// left of the container when it ends (the shared-PID stop check).
func (w *world) ctrConfig(p *podModel, c *ctrModel) *runtimeapi.ContainerConfig {
	script := `sleep 3600 & trap "exit 3" TERM; while true; do sleep 0.2; done`
	if c.kind == kindExit {
		script = fmt.Sprintf("sleep 3600 & sleep 0.%d; exit %d", rand.Intn(10), c.code)
	}
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: c.name},
		Image:    &runtimeapi.ImageSpec{Image: busyboxRef},
		Command:  []string{"sh", "-c", script},
		LogPath:  c.name + ".log",
		Labels:   map[string]string{"fault-run": w.runID, "ctr": c.name},
		Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			NamespaceOptions: p.opts.namespaces(),
		}},
	}
}

// runContainer pulls the image (when ImageStatus does not have it, and
// sometimes anyway), creates the container and starts it.
func (w *world) runContainer(p *podModel, c *ctrModel) error {
	if err := w.pull(busyboxRef, rand.Intn(4) == 0); err != nil {
		return err
	}
	if err := w.ensureContainer(p, c); err != nil {
		return err
	}
	return w.ensureStarted(p, c)
}

func (w *world) pull(ref string, always bool) error {
	spec := &runtimeapi.ImageSpec{Image: ref}
	if !always {
		var st *runtimeapi.ImageStatusResponse
		if err := w.sure("ImageStatus", func(ctx context.Context) (err error) {
			st, err = w.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec})
			return err
		}); err != nil {
			return err
		}
		if st.Image != nil {
			return nil
		}
	}
	for i, start := 0, time.Now(); !w.giveUp(start, 3*time.Minute); i++ {
		w.pulls.Add(1)
		err, expected := w.try("", func(ctx context.Context) error {
			_, err := w.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec})
			return err
		})
		if err == nil {
			return nil
		}
		if !expected {
			w.failf("PullImage %s: %v", ref, err)
		}
		backoffSleep(i)
	}
	return fmt.Errorf("PullImage %s: no image within 3m", ref)
}

// ensureContainer creates c until the client knows its ID, adopting one a
// lost reply created.
func (w *world) ensureContainer(p *podModel, c *ctrModel) error {
	cfg := w.ctrConfig(p, c)
	for i, start := 0, time.Now(); !w.giveUp(start, w.opTimeout(p)); i++ {
		var resp *runtimeapi.CreateContainerResponse
		err, expected := w.try(p.id, func(ctx context.Context) (err error) {
			resp, err = w.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: p.id, Config: cfg, SandboxConfig: p.cfg})
			return err
		})
		if err == nil {
			c.id = resp.ContainerId
			return nil
		}
		if !expected && status.Code(err) != codes.AlreadyExists && !w.wasShimKilled(p.id) {
			w.failf("lifecycle %d: CreateContainer %s: %v", p.lc, c.name, err)
		}
		id, err := w.findContainer(p, c)
		if err != nil {
			return err
		}
		if id != "" {
			c.id = id
			w.adoptedCtrs.Add(1)
			return nil
		}
		if err := w.podReady(p); err != nil {
			return err
		}
		backoffSleep(i)
	}
	return fmt.Errorf("CreateContainer %s: no container within %v", c.name, w.opTimeout(p))
}

func (w *world) findContainer(p *podModel, c *ctrModel) (string, error) {
	var list *runtimeapi.ListContainersResponse
	if err := w.sure("ListContainers", func(ctx context.Context) (err error) {
		list, err = w.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
			PodSandboxId: p.id, LabelSelector: map[string]string{"ctr": c.name}}})
		return err
	}); err != nil {
		return "", err
	}
	for _, item := range list.Containers {
		return item.Id, nil
	}
	return "", nil
}

// podReady is errPodLost when the pod is gone or not ready.
func (w *world) podReady(p *podModel) error {
	var st *runtimeapi.PodSandboxStatusResponse
	err := w.sure("PodSandboxStatus", func(ctx context.Context) (err error) {
		st, err = w.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.id})
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: %v", errPodLost, err)
	}
	if st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		return fmt.Errorf("%w: pod %s is %v", errPodLost, short(p.id), st.Status.State)
	}
	return nil
}

func (w *world) ctrStatus(id string) (*runtimeapi.ContainerStatus, error) {
	var st *runtimeapi.ContainerStatusResponse
	err := w.sure("ContainerStatus", func(ctx context.Context) (err error) {
		st, err = w.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		return err
	})
	if err != nil {
		return nil, err
	}
	return st.Status, nil
}

// ensureStarted starts c until its status says it started.
func (w *world) ensureStarted(p *podModel, c *ctrModel) error {
	for i, start := 0, time.Now(); !w.giveUp(start, w.opTimeout(p)); i++ {
		err, expected := w.try(p.id, func(ctx context.Context) error {
			_, err := w.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.id})
			return err
		})
		if err == nil {
			return nil
		}
		// A start whose reply was lost is no failure: the status tells.
		st, serr := w.ctrStatus(c.id)
		if serr != nil {
			return fmt.Errorf("status of container %s after a failed start: %w", short(c.id), serr)
		}
		if st.State != runtimeapi.ContainerState_CONTAINER_CREATED {
			return nil
		}
		if !expected && !w.wasShimKilled(p.id) {
			w.failf("lifecycle %d: StartContainer %s: %v", p.lc, short(c.id), err)
		}
		backoffSleep(i)
	}
	return fmt.Errorf("StartContainer %s: not started within %v", short(c.id), w.opTimeout(p))
}

// exercise checks a started container: a sleeper answers ExecSync, an
// exiting one reports its exit code.
func (w *world) exercise(p *podModel, c *ctrModel) {
	if c.kind == kindSleep {
		w.checkExec(p, c)
		return
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		st, err := w.ctrStatus(c.id)
		if err != nil {
			w.failf("lifecycle %d: status of %s: %v", p.lc, short(c.id), err)
			return
		}
		if st.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			c.exited = true
			w.checkExit(p, c, st)
			return
		}
	}
	if !w.wasShimKilled(p.id) {
		w.failf("lifecycle %d: container %s (exit %d after <1s) still not exited after 1m", p.lc, short(c.id), c.code)
	}
}

// checkExit compares an exited container's status with what the client
// expects: its true exit code, or, when the test killed the pod's shim,
// a reason saying its end was not observed.
func (w *world) checkExit(p *podModel, c *ctrModel, st *runtimeapi.ContainerStatus) {
	if st.ExitCode == c.code && st.FinishedAt != 0 {
		return
	}
	if w.wasShimKilled(p.id) && st.Reason != "" && st.Reason != "Completed" {
		return
	}
	w.failf("lifecycle %d: container %s exited %d (reason %q, message %q, finished %d), want exit %d",
		p.lc, short(c.id), st.ExitCode, st.Reason, st.Message, st.FinishedAt, c.code)
}

// checkExec runs echo in a running container; only a kill or a deadline
// may make it fail, and an answer must be right. An attempt that a daemon
// kill cut short does not count against the budget of execUnexplainedAttempts:
// with the daemon killed every second or two, a slow exec on a loaded
// machine can be cut short many times in a row (seen in CI: ten attempts
// in ten seconds, every one reset by a kill), and that says nothing about
// the runtime. The client insists for opTimeout in all.
func (w *world) checkExec(p *podModel, c *ctrModel) {
	want := "ok-" + short(c.id)
	var last error
	// attempts says, for a report, how long each attempt took and
	// whether a daemon kill came during it.
	var attempts []string
	unexplained := 0
	for start, i := time.Now(), 0; unexplained < execUnexplainedAttempts && !w.giveUp(start, w.opTimeout(p)); i++ {
		var resp *runtimeapi.ExecSyncResponse
		down, epoch, began := w.down.Load(), w.epoch.Load(), time.Now()
		err, expected := w.try(p.id, func(ctx context.Context) (err error) {
			resp, err = w.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.id, Cmd: []string{"echo", want}, Timeout: 10})
			return err
		})
		killed := down || w.epoch.Load() != epoch
		attempts = append(attempts, fmt.Sprintf("%s %v kill=%v", time.Since(began).Round(time.Millisecond), status.Code(err), killed))
		w.execs.Add(1)
		if err == nil {
			if resp.ExitCode != 0 || strings.TrimSpace(string(resp.Stdout)) != want {
				w.failf("lifecycle %d: exec in %s: exit %d stdout %q stderr %q", p.lc, short(c.id), resp.ExitCode, resp.Stdout, resp.Stderr)
			}
			return
		}
		if w.wasShimKilled(p.id) {
			return
		}
		if !expected {
			w.failf("lifecycle %d: exec in %s: %v", p.lc, short(c.id), err)
			return
		}
		if !killed {
			unexplained++
		}
		last = err
		backoffSleep(min(i, 4))
	}
	if w.aborted.Load() {
		return
	}
	w.failf("lifecycle %d: exec in %s: no answer in %d attempts (%d without a daemon kill during them: %s), the last: %v",
		p.lc, short(c.id), len(attempts), unexplained, strings.Join(attempts, ", "), last)
}

// execUnexplainedAttempts is how many exec attempts that no daemon kill
// explains checkExec makes before it calls the exec lost.
const execUnexplainedAttempts = 10

// teardown stops and removes the pod, its containers one by one first
// when byContainer is set; the client then expects them gone.
func (w *world) teardown(p *podModel, byContainer bool) {
	if p.id == "" {
		return
	}
	if byContainer {
		for _, c := range p.ctrs {
			if c.id == "" {
				continue
			}
			w.stopContainer(p, c)
			w.must(p, "RemoveContainer "+short(c.id), func(ctx context.Context) error {
				_, err := w.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.id})
				return err
			})
			c.removed = true
		}
	}
	w.removePod(p.id)
	p.removed = true
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range p.ctrs {
		c.removed = true
		if c.id != "" {
			w.removed[c.id] = "container"
		}
	}
}

// stopContainer stops c and checks its exit: 3 for a sleeper (its TERM
// trap), its own code for the others.
func (w *world) stopContainer(p *podModel, c *ctrModel) {
	w.must(p, "StopContainer "+short(c.id), func(ctx context.Context) error {
		_, err := w.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.id, Timeout: 10})
		return err
	})
	st, err := w.ctrStatus(c.id)
	if err != nil {
		w.failf("lifecycle %d: status of stopped %s: %v", p.lc, short(c.id), err)
		return
	}
	if st.State != runtimeapi.ContainerState_CONTAINER_EXITED {
		// A container never started (its pod lost its shim) stays created;
		// the init its shim may have made before it died must be gone.
		if !(st.State == runtimeapi.ContainerState_CONTAINER_CREATED && w.wasShimKilled(p.id)) {
			w.failf("lifecycle %d: container %s is %v after StopContainer", p.lc, short(c.id), st.State)
		} else if p.opts.sharedPID {
			w.checkStoppedSharedPID(p, c, st.State)
		}
		return
	}
	if c.kind == kindSleep && !c.exited {
		c.code = 3
	}
	c.exited = true
	w.checkExit(p, c, st)
	if p.opts.sharedPID {
		w.checkStoppedSharedPID(p, c, st.State)
	}
}

// checkStoppedSharedPID: once StopContainer has returned and the
// container is exited (or created, never started, in a pod whose shim was
// killed), none of its processes may run, not even those its
// main process left in the pod's shared PID namespace (issue 20: the
// background child lived on, reparented to the pod init, until
// RemoveContainer; a kubelet restarting the container got two). Read
// from the container's cgroup; a moment is allowed for killed processes
// to leave it.
func (w *world) checkStoppedSharedPID(p *podModel, c *ctrModel, state runtimeapi.ContainerState) {
	w.sharedPIDStops.Add(1)
	var left []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if left = w.cgroups.containerProcs(p.id, c.id); len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) == 0 {
		return
	}
	w.sharedPIDLeft.Add(1)
	w.failf("shared-PID stop: lifecycle %d pod %s (%v, shim killed: %v): container %s is %v after StopContainer, yet its processes run: %s",
		p.lc, short(p.id), p.opts, w.wasShimKilled(p.id), short(c.id), state, strings.Join(left, "; "))
}

// must repeats an idempotent RPC (Stop*, Remove*) until it succeeds.
func (w *world) must(p *podModel, what string, fn func(ctx context.Context) error) {
	for i, start := 0, time.Now(); !w.giveUp(start, 3*time.Minute); i++ {
		err, expected := w.try(p.id, fn)
		if err == nil {
			return
		}
		if !expected {
			w.failf("lifecycle %d: %s: %v", p.lc, what, err)
		}
		backoffSleep(i)
	}
	w.failf("lifecycle %d: %s: not done within 3m", p.lc, what)
}

func (w *world) removePod(id string) {
	p := &podModel{lc: -1, id: id}
	w.must(p, "StopPodSandbox "+short(id), func(ctx context.Context) error {
		_, err := w.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
		return err
	})
	w.must(p, "RemovePodSandbox "+short(id), func(ctx context.Context) error {
		_, err := w.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
		return err
	})
	w.mu.Lock()
	w.removed[id] = "pod"
	w.mu.Unlock()
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// TestTrackerCut: a paced call a daemon kill cuts short sets the killer's
// floor to twice its run time, until the next kill; a call that finished,
// one that failed with no kill, and an unpaced one do not.
func TestTrackerCut(t *testing.T) {
	tr := &tracker{n: map[string]int{}, took: map[string][]time.Duration{}}
	call := func(method string, run time.Duration, killed bool, err error) {
		_ = tr.intercept(context.Background(), "/runtime.v1.RuntimeService/"+method, nil, nil, nil,
			func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
				time.Sleep(run)
				if killed {
					tr.kill()
				}
				return err
			})
	}
	lost := errors.New("connection reset")
	call("RunPodSandbox", 30*time.Millisecond, false, nil)
	call("RunPodSandbox", 30*time.Millisecond, false, lost)
	call("ExecSync", 80*time.Millisecond, true, lost)
	if got := tr.lastCut(); got != 0 {
		t.Fatalf("lastCut = %v with no paced call cut", got)
	}
	call("RunPodSandbox", 50*time.Millisecond, true, lost)
	if got := tr.lastCut(); got < 50*time.Millisecond {
		t.Errorf("lastCut = %v after a RunPodSandbox cut at 50ms", got)
	}
	tr.kill()
	if got := tr.lastCut(); got != 0 {
		t.Errorf("lastCut = %v after the next kill", got)
	}
}
