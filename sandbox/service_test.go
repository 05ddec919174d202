package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/store"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/sandboxtest"
)

type env struct {
	dir    string
	st     *store.Store
	rec    *sandboxtest.Recorder
	svc    *sandbox.Service
	labels sandbox.Labels // nil: none
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, st: st, rec: sandboxtest.NewRecorder()}
	e.svc = e.service(t)
	return e
}

// service builds a service over e's store and fakes, as a restarted daemon would.

func (e *env) service(t *testing.T) *sandbox.Service {
	t.Helper()
	svc, err := sandbox.New(sandbox.Options{
		StateDir:   filepath.Join(e.dir, "pods"),
		Store:      e.st,
		Namespaces: sandboxtest.Namespaces{R: e.rec},
		Files:      sandboxtest.Files{R: e.rec},
		Cgroups:    sandboxtest.Cgroups{R: e.rec},
		Shims:      sandboxtest.Shims{R: e.rec},
		Network:    sandboxtest.Network{R: e.rec},
		CheckHandler: func(name string) error {
			if name == "nope" {
				return errdefs.ErrNotFound
			}
			return nil
		},
		UserNamespaces: func(name string) bool { return name != "no-userns" },
		Labels:         e.labels,
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.SetContainers(sandboxtest.Containers{R: e.rec})
	return svc
}

func podConfig(name string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: "uid-" + name},
		Labels:   map[string]string{"app": name},
		Linux: &runtimeapi.LinuxPodSandboxConfig{CgroupParent: "/kubepods", SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER},
		}},
	}
}

func (e *env) run(t *testing.T, name string) *sandbox.Sandbox {
	t.Helper()
	sb, err := e.svc.Run(context.Background(), sandbox.RunRequest{Config: podConfig(name)})
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

func TestList(t *testing.T) {
	e := newEnv(t)
	a, b := e.run(t, "a"), e.run(t, "b")
	if err := e.svc.Stop(context.Background(), b.ID); err != nil {
		t.Fatal(err)
	}
	ready, notReady := sandbox.StateReady, sandbox.StateNotReady
	cases := []struct {
		desc string
		f    sandbox.Filter
		want []string
	}{
		{desc: "all", want: sortIDs(a.ID, b.ID)},
		{desc: "by id", f: sandbox.Filter{ID: a.ID}, want: []string{a.ID}},
		{desc: "by id prefix", f: sandbox.Filter{ID: b.ID[:12]}, want: []string{b.ID}},
		{desc: "unknown id", f: sandbox.Filter{ID: "ffff-none"}},
		{desc: "ready", f: sandbox.Filter{State: &ready}, want: []string{a.ID}},
		{desc: "not ready", f: sandbox.Filter{State: &notReady}, want: []string{b.ID}},
		{desc: "label", f: sandbox.Filter{Labels: map[string]string{"app": "b"}}, want: []string{b.ID}},
		{desc: "label mismatch", f: sandbox.Filter{Labels: map[string]string{"app": "c"}}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var got []string
			for _, sb := range e.svc.List(tc.f) {
				got = append(got, sb.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func sortIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func TestLoadRecovers(t *testing.T) {
	e := newEnv(t)
	alive, dead, stopped := e.run(t, "alive"), e.run(t, "dead"), e.run(t, "stopped")
	if err := e.svc.Stop(context.Background(), stopped.ID); err != nil {
		t.Fatal(err)
	}
	e.rec.SetHeld("shim:"+dead.ID, false) // its shim died with the daemon
	if err := os.WriteFile(filepath.Join(e.dir, "meta", "sandboxes", "broken.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}

	svc := e.service(t)
	svc.Load(context.Background())
	cases := []struct {
		desc string
		id   string
		want sandbox.State
	}{
		{desc: "pod with live shim stays ready", id: alive.ID, want: sandbox.StateReady},
		{desc: "pod whose shim died is not ready", id: dead.ID, want: sandbox.StateNotReady},
		{desc: "stopped pod stays stopped", id: stopped.ID, want: sandbox.StateNotReady},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			sb, err := svc.Get(tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if sb.Status().State != tc.want {
				t.Errorf("state = %s, want %s", sb.Status().State, tc.want)
			}
			if sb.Config.GetMetadata().GetUid() == "" || sb.CgroupPath == "" {
				t.Errorf("metadata not restored: %+v", sb.Metadata)
			}
		})
	}
	if _, err := svc.Run(context.Background(), sandbox.RunRequest{Config: podConfig("alive")}); !errdefs.IsAlreadyExists(err) {
		t.Errorf("name not re-reserved: %v", err)
	}
}

func TestLoadTearsDownInterruptedRun(t *testing.T) {
	e := newEnv(t)
	// What Run leaves when the daemon dies right after pinning namespaces.
	id := strings.Repeat("ab", 32)
	dir := filepath.Join(e.dir, "pods", id[:16])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	e.rec.SetHeld("ns:"+dir, true)
	cfg, err := proto.Marshal(podConfig("crashed"))
	if err != nil {
		t.Fatal(err)
	}
	rec := map[string]any{"id": id, "name": "crashed_default_uid-crashed_0", "config": cfg, "stateDir": dir, "status": map[string]string{"state": "creating"}}
	if err := e.st.Put("sandboxes", id, 1, rec); err != nil {
		t.Fatal(err)
	}
	svc := e.service(t)
	svc.Load(context.Background())
	if _, err := svc.Get(id); !errdefs.IsNotFound(err) {
		t.Errorf("half-created sandbox is visible: %v", err)
	}
	if held := e.rec.Held(); len(held) != 0 {
		t.Errorf("left %q", held)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state dir left: %v", err)
	}
	if ids, _ := e.st.IDs("sandboxes"); len(ids) != 0 {
		t.Errorf("records left: %q", ids)
	}
	if _, err := svc.Run(context.Background(), sandbox.RunRequest{Config: podConfig("crashed")}); err != nil {
		t.Errorf("name not free: %v", err)
	}
}

// TestLoadTearsDownRunCrashedAtEachStep kills Run (a panic: no rollback
// runs) in each step after its first record and checks that the next
// start tears down everything, the pod cgroup included (found by
// test/fault: the first record did not name the cgroup, and a cgroup
// created before the record leaked when the crash came in between).
func TestLoadTearsDownRunCrashedAtEachStep(t *testing.T) {
	for _, step := range []string{sandboxtest.CallPin, sandboxtest.CallSetup, sandboxtest.CallWriteFiles, sandboxtest.CallCreateCgroup, sandboxtest.CallStartShim} {
		t.Run(step, func(t *testing.T) {
			e := newEnv(t)
			e.rec.Fail(step, sandboxtest.ErrCrash)
			func() {
				defer func() {
					if r := recover(); r != sandboxtest.ErrCrash {
						t.Fatalf("Run did not crash in %s: %v", step, r)
					}
				}()
				_, _ = e.svc.Run(context.Background(), sandbox.RunRequest{Config: podConfig("crashed")})
			}()
			if step != sandboxtest.CallPin {
				// The shim starts alongside the later steps: a real crash
				// ends that start too, wherever it got to; here it runs
				// on, so let it finish before the "restart".
				waitForCall(t, e.rec, sandboxtest.CallStartShim)
			}
			if len(e.rec.Held()) == 0 {
				t.Fatal("the crash left nothing: the test proves nothing")
			}
			e.rec.Fail(step, nil)
			svc := e.service(t)
			svc.Load(context.Background())
			if held := e.rec.Held(); len(held) != 0 {
				t.Errorf("left %q", held)
			}
			if entries, _ := os.ReadDir(filepath.Join(e.dir, "pods")); len(entries) != 0 {
				t.Errorf("state dirs left: %v", entries)
			}
			if ids, _ := e.st.IDs("sandboxes"); len(ids) != 0 {
				t.Errorf("records left: %q", ids)
			}
		})
	}
}

// TestLoadSweepsStateDirsNoRecordNames: at start-up a pod state dir that
// no record names is torn down (its shim, files and namespaces) and
// removed, whatever it holds; the dirs of a live pod and of a record that
// cannot be loaded stay, and so does what is not a dir.
func TestLoadSweepsStateDirsNoRecordNames(t *testing.T) {
	e := newEnv(t)
	live := e.run(t, "live")
	pods := filepath.Join(e.dir, "pods")
	stray := filepath.Join(pods, "0123456789abcdef")
	unreadableID := strings.Repeat("cd", 32)
	unreadable := filepath.Join(pods, unreadableID[:16])
	for _, d := range []string{filepath.Join(stray, "ns"), unreadable} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(stray, "shim.log"), filepath.Join(unreadable, "shim.log"), filepath.Join(live.StateDir, "hostname"), filepath.Join(pods, "not-a-dir")} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A record of a schema this daemon does not know still names its pod.
	if err := e.st.Put("sandboxes", unreadableID, 99, map[string]string{"id": unreadableID}); err != nil {
		t.Fatal(err)
	}
	e.rec.SetHeld("ns:"+stray, true)
	e.rec.SetHeld("files:"+stray, true)
	before := len(e.rec.Calls())

	svc := e.service(t)
	svc.Load(context.Background())
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("state dir no record names is still there: %v", err)
	}
	for _, p := range []string{live.StateDir, unreadable, filepath.Join(pods, "not-a-dir")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was swept: %v", p, err)
		}
	}
	if held := e.rec.Held(); slices.Contains(held, "ns:"+stray) || slices.Contains(held, "files:"+stray) {
		t.Errorf("the stray dir's namespaces or files were not torn down: %q", held)
	}
	if calls := e.rec.Calls()[before:]; !slices.Contains(calls, sandboxtest.CallStopShim) {
		t.Errorf("no shim stop for the stray dir: calls %q", calls)
	}
	if sb, err := svc.Get(live.ID); err != nil || sb.Status().State != sandbox.StateReady {
		t.Errorf("live pod after the sweep: %v", err)
	}
}

// TestCheckShimsMarksDeadShimNotReady: a pod whose shim died while the
// daemon runs becomes NotReady, so that the kubelet replaces it (found by
// test/fault: it stayed Ready and no container could start in it again);
// a pod whose shim lives stays Ready.
func TestCheckShimsMarksDeadShimNotReady(t *testing.T) {
	e := newEnv(t)
	dead := e.run(t, "dead")
	alive := e.run(t, "alive")
	e.rec.SetHeld("shim:"+dead.ID, false)
	e.svc.CheckShims(context.Background())
	if st := dead.Status(); st.State != sandbox.StateNotReady || st.StoppedAt.IsZero() {
		t.Errorf("pod whose shim died: %+v, want not ready with a stop time", st)
	}
	if st := alive.Status(); st.State != sandbox.StateReady {
		t.Errorf("pod whose shim lives: %+v", st)
	}
	// The change is on disk: a restart sees it too.
	svc := e.service(t)
	svc.Load(context.Background())
	if sb, err := svc.Get(dead.ID); err != nil || sb.Status().State != sandbox.StateNotReady {
		t.Errorf("after a restart: %v %+v", err, sb)
	}
}

// waitForCall waits until the recorder has seen a call of name.
func waitForCall(t *testing.T, rec *sandboxtest.Recorder, name string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(rec.Calls(), name) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s call", name)
		}
		time.Sleep(time.Millisecond)
	}
}
