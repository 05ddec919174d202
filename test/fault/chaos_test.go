package fault

import (
	"context"
	"maps"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil/podnet"
)

// killTargets are the RPCs the killer waits for before it strikes; ""
// strikes whatever runs.
var killTargets = []string{"RunPodSandbox", "CreateContainer", "PullImage", "StartContainer", "StopPodSandbox", ""}

// killer SIGKILLs the daemon at random moments, each time timed on an
// RPC of a chosen method in flight when one comes within 5 s, and
// restarts it. The CNI plugins a killed daemon started are left to
// finish first, as a service manager that kills the daemon's cgroup
// would have them gone.
func (w *world) killer(stop <-chan struct{}, every time.Duration) {
	for {
		gap := every/2 + time.Duration(rand.Int63n(int64(every)))
		if floor := killGapFloor(); gap < floor {
			gap = floor + time.Duration(rand.Int63n(int64(every)))
			w.notePacedGap(floor)
		}
		select {
		case <-stop:
			return
		case <-time.After(gap):
		}
		target := killTargets[rand.Intn(len(killTargets))]
		if target != "" {
			for deadline := time.Now().Add(5 * time.Second); inflight.count(target) == 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Duration(rand.Intn(40)) * time.Millisecond)
		}
		busy := inflight.busy()
		w.down.Store(true)
		w.epoch.Add(1)
		inflight.kill()
		w.d.Kill()
		w.epoch.Add(1)
		w.daemonKills.Add(1)
		w.mu.Lock()
		if len(busy) == 0 {
			w.killsDuring["(idle)"]++
		}
		for _, m := range busy {
			w.killsDuring[m]++
		}
		w.mu.Unlock()
		w.noteKill(busy)
		podnet.AwaitNoPlugins(w.d.State, 30*time.Second)
		time.Sleep(time.Duration(rand.Intn(300)) * time.Millisecond)
		if err := w.d.TryStart(); err != nil {
			// A hung start-up: its goroutines go to the log, and the
			// workload gives up instead of retrying for minutes.
			w.d.Quit()
			w.failf("restart after kill %d: %v", w.daemonKills.Load(), err)
			w.abort()
			return
		}
		w.down.Store(false)
	}
}

// pacedMethods are the workload's steps that must fit between two daemon
// kills for a lifecycle to advance.
var pacedMethods = []string{"RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "CreateContainer", "StartContainer", "RemoveContainer"}

// killGapFloor is the least time the killer leaves a restarted daemon:
// twice the typical time of the slowest paced step. On a fast host the
// configured interval is far above it; on a loaded one (a RunPodSandbox
// taking seconds) an interval of 1.5 s cut nearly every attempt, and
// lifecycles starved (seen here: 57 of 300 pods never ran in 3 minutes,
// every attempt killed). Kills stay as dense per RPC as on a fast host.
// The typical time counts only calls that finished; on a host loaded
// enough that the slow calls are all cut, it stays short, so the floor is
// also twice the run time of the longest paced call the last kill cut
// (capped at maxCutFloor): the retried call gets twice the time it had
// (seen at load 50: 10 lifecycles never got a pod in 3 minutes).
func killGapFloor() time.Duration {
	var slowest time.Duration
	for _, m := range pacedMethods {
		slowest = max(slowest, inflight.typical(m))
	}
	return max(2*slowest, min(2*inflight.lastCut(), maxCutFloor))
}

// maxCutFloor bounds the floor a cut call sets: a call that hangs must
// not stop the kills.
const maxCutFloor = time.Minute

// notePacedGap counts a gap the floor widened and keeps the widest.
func (w *world) notePacedGap(floor time.Duration) {
	w.pacedKills.Add(1)
	for {
		old := w.widestFloor.Load()
		if int64(floor) <= old || w.widestFloor.CompareAndSwap(old, int64(floor)) {
			return
		}
	}
}

// shimKiller SIGKILLs the shim of a random pod now and then.
func (w *world) shimKiller(stop <-chan struct{}, every time.Duration) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(every/2 + time.Duration(rand.Int63n(int64(every)))):
		}
		shims := shimsOf(w.d)
		if len(shims) == 0 {
			continue
		}
		pids := make([]int, 0, len(shims))
		for pid := range shims {
			pids = append(pids, pid)
		}
		pid := pids[rand.Intn(len(pids))]
		// Record first: the workload must know before it sees the effects.
		w.mu.Lock()
		epoch := w.shimEpoch.Add(1)
		w.shimKilled[shims[pid]] = true
		w.shimKillAt[shims[pid]] = epoch
		if !w.knows(shims[pid]) {
			w.unknownShimKill.Store(epoch)
		}
		w.mu.Unlock()
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			w.shimKills.Add(1)
		}
	}
}

// knows says whether the client was told of pod id; w.mu is held.
func (w *world) knows(id string) bool {
	for _, p := range w.pods {
		if p.id == id {
			return true
		}
	}
	return false
}

// puller pulls and removes a second image over and over, so that kills
// land in the middle of pulls that fetch and unpack layers. Its errors
// count as the workload's: only a kill or a short deadline explains one.
func (w *world) puller(stop <-chan struct{}) {
	spec := &runtimeapi.ImageSpec{Image: httpdRef}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		err, expected := w.try("", func(ctx context.Context) error {
			_, err := w.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec})
			return err
		})
		if err == nil {
			err, expected = w.try("", func(ctx context.Context) error {
				_, err := w.img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec})
				return err
			})
			if err != nil && !expected {
				w.failf("puller: RemoveImage %s: %v", httpdRef, err)
			}
		} else if !expected {
			w.failf("puller: PullImage %s: %v", httpdRef, err)
		}
		time.Sleep(time.Duration(200+rand.Intn(800)) * time.Millisecond)
	}
}

// seen collects, while the test runs, every pod the daemon had on disk or
// in a shim: pods whose creation a kill cut short never reach the client,
// and their cgroups and pod inits must go too.
type seen struct {
	mu       sync.Mutex
	podDirs  map[string]bool // state/pods/<first 16 hex digits of the ID>
	ctrDirs  map[string]bool // state/containers/<ID>
	podIDs   map[string]bool
	podInits map[string]bool
	shimLogs map[string]string // pod dir -> the shim's log, kept after the pod is gone
	recs     *records          // the last version of every record, for leak reports
}

func newSeen() *seen {
	return &seen{podDirs: map[string]bool{}, ctrDirs: map[string]bool{}, podIDs: map[string]bool{}, podInits: map[string]bool{}, shimLogs: map[string]string{}, recs: newRecords()}
}

func (s *seen) sample(d *daemon) {
	dirs, _ := os.ReadDir(filepath.Join(d.State, "pods"))
	ctrs, _ := os.ReadDir(filepath.Join(d.State, "containers"))
	inits, _ := filepath.Glob(filepath.Join(d.State, "pods", "*", "ns", "pid.init"))
	shims := shimsOf(d)
	s.recs.sample(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range dirs {
		s.podDirs[e.Name()] = true
		if b, err := os.ReadFile(filepath.Join(d.State, "pods", e.Name(), "shim.log")); err == nil && len(b) > 0 {
			s.shimLogs[e.Name()] = string(b)
		}
	}
	for _, e := range ctrs {
		s.ctrDirs[e.Name()] = true
	}
	for _, f := range inits {
		if b, err := os.ReadFile(f); err == nil {
			s.podInits[strings.TrimSpace(string(b))] = true
		}
	}
	for _, id := range shims {
		s.podIDs[id] = true
	}
}

func (s *seen) run(d *daemon, stop <-chan struct{}) {
	for {
		s.sample(d)
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// prefixes returns the 16-digit prefixes of every pod seen.
func (s *seen) prefixes(extra []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := map[string]bool{}
	for p := range s.podDirs {
		set[p] = true
	}
	for id := range s.podIDs {
		set[id[:16]] = true
	}
	for _, id := range extra {
		if len(id) >= 16 {
			set[id[:16]] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// ctrPrefixes returns the 16-digit prefixes of every container seen.
func (s *seen) ctrPrefixes(extra []string) []string {
	s.mu.Lock()
	set := map[string]bool{}
	for id := range s.ctrDirs {
		if len(id) >= 16 {
			set[id[:16]] = true
		}
	}
	s.mu.Unlock()
	for _, id := range append(extra, s.recs.ids("containers")...) {
		if len(id) >= 16 {
			set[id[:16]] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// saveShimLogs writes every shim log seen to dir, one file per pod.
func (s *seen) saveShimLogs(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for pod, log := range s.shimLogs {
		if err := os.WriteFile(filepath.Join(dir, pod+".log"), []byte(log), 0o644); err != nil {
			return err
		}
	}
	return nil
}
