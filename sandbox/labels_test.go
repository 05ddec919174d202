package sandbox_test

import (
	"context"
	"errors"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/selinux"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/sandboxtest"
)

// TestPodSELinuxLabels: each pod reserves a level of its own, recorded in
// its record and given to its containers; removal frees it, a restart
// reserves the levels of the pods it recovers, and a failed Run frees it.
func TestPodSELinuxLabels(t *testing.T) {
	labels := &sandboxtest.Labels{}
	e := newEnv(t)
	e.labels = labels
	e.svc = e.service(t)
	a, b := e.run(t, "a"), e.run(t, "b")
	la, lb := selinux.Level(a.SELinux.Process), selinux.Level(b.SELinux.Process)
	if la == "" || la == lb {
		t.Fatalf("pod levels %q and %q", la, lb)
	}
	pod, err := e.svc.Pod(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pod.SELinux != a.SELinux {
		t.Errorf("containers see labels %+v, want the pod's %+v", pod.SELinux, a.SELinux)
	}

	// A restarted daemon reserves what the records hold.
	restarted := &sandboxtest.Labels{}
	e.labels = restarted
	svc := e.service(t)
	svc.Load(context.Background())
	if r := restarted.Reserved(); !r[la] || !r[lb] {
		t.Fatalf("after a restart reserved %v, want %s and %s", r, la, lb)
	}
	got, err := svc.Get(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SELinux != a.SELinux {
		t.Errorf("recovered labels %+v, want %+v", got.SELinux, a.SELinux)
	}
	if err := svc.Remove(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	if restarted.Reserved()[la] {
		t.Errorf("level %s still reserved after its pod was removed", la)
	}

	// Bad options fail Run with InvalidArgument and reserve nothing.
	cfg := podConfig("bad")
	cfg.Linux.SecurityContext.SelinuxOptions = &runtimeapi.SELinuxOption{Level: "bad"}
	if _, err := svc.Run(context.Background(), sandbox.RunRequest{Config: cfg}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("bad level: %v", err)
	}
	// A Run that fails later frees its level.
	before := len(labels.Reserved())
	e.rec.Fail(sandboxtest.CallPin, errors.New("boom"))
	if _, err := e.svc.Run(context.Background(), sandbox.RunRequest{Config: podConfig("c")}); err == nil {
		t.Fatal("Run succeeded despite the pin failure")
	}
	if n := len(labels.Reserved()); n != before {
		t.Errorf("%d levels reserved after a failed Run, want %d", n, before)
	}
}

// TestPodInitAndFilesLabels: the pod init runs at the pod's process label
// (found in the enforcing test/vm node: at the engine's label, the
// containers of a shared pid namespace could not read /proc/1/mountinfo),
// none for a privileged pod; the pod files get the pod's mount label
// (found there too: the containers could not read /etc/hostname, hosts,
// resolv.conf).
func TestPodInitAndFilesLabels(t *testing.T) {
	e := newEnv(t)
	e.labels = &sandboxtest.Labels{}
	e.svc = e.service(t)
	a := e.run(t, "a")
	if got := e.rec.Seen("init-label:" + a.StateDir); got == "" || got != a.SELinux.Process {
		t.Errorf("pod init label %q, want the pod's %q", got, a.SELinux.Process)
	}
	if got := e.rec.Seen("files-label:" + a.StateDir); got == "" || got != a.SELinux.Mount {
		t.Errorf("pod files label %q, want the pod's %q", got, a.SELinux.Mount)
	}
	cfg := podConfig("priv")
	cfg.Linux.SecurityContext.Privileged = true
	p, err := e.svc.Run(context.Background(), sandbox.RunRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if p.SELinux.Process == "" {
		t.Fatal("privileged pod has no labels at all")
	}
	if got := e.rec.Seen("init-label:" + p.StateDir); got != "" {
		t.Errorf("privileged pod's init label %q, want none", got)
	}
}
