package daemon

import (
	"errors"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
)

func registry(t *testing.T, binaries map[string]string) *runtime.Registry {
	t.Helper()
	reg, err := runtime.NewRegistry(binaries)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestHandlerLookup(t *testing.T) {
	reg := registry(t, map[string]string{"runc": "/usr/sbin/runc"})
	cases := []struct {
		desc     string
		def      string
		name     string
		wantKind string
		wantErr  error
	}{
		{desc: "empty is the built-in default", name: "", wantKind: runtime.KindBuiltin},
		{desc: "empty is the configured default", def: "runc", name: "", wantKind: runtime.KindRuncCLI},
		{desc: "by name", name: "runc", wantKind: runtime.KindRuncCLI},
		{desc: "unknown", name: "kata", wantErr: errdefs.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			set := newHandlerSet(reg, tc.def)
			h, err := set.Lookup(tc.name)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && h.Kind != tc.wantKind {
				t.Errorf("kind = %q, want %q", h.Kind, tc.wantKind)
			}
			if err := set.CheckNew(tc.name); !errors.Is(err, tc.wantErr) {
				t.Errorf("CheckNew = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestHandlerSetReplace(t *testing.T) {
	set := newHandlerSet(registry(t, map[string]string{"runc": "/usr/sbin/runc"}), "")
	if err := set.set(registry(t, map[string]string{"crun": "/usr/bin/crun"})); err != nil {
		t.Fatal(err)
	}
	if err := set.CheckNew("crun"); err != nil {
		t.Errorf("a new handler is not usable at once: %v", err)
	}
	if err := set.CheckNew("runc"); !errdefs.IsNotFound(err) {
		t.Errorf("a removed handler is offered to new pods: %v", err)
	}
	if h, err := set.Lookup("runc"); err != nil || h.Path != "/usr/sbin/runc" {
		t.Errorf("a removed handler is lost for the pods using it: %+v, %v", h, err)
	}
	if err := set.set(registry(t, map[string]string{"runc": "/usr/local/sbin/runc"})); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("a handler changed in place: %v", err)
	}
	if err := set.set(registry(t, map[string]string{"runc": "/usr/sbin/runc"})); err != nil {
		t.Fatalf("a removed handler comes back: %v", err)
	}
	if err := set.CheckNew("runc"); err != nil {
		t.Errorf("a handler that came back is refused: %v", err)
	}
}

func TestHandlerSetKeepsTheDefault(t *testing.T) {
	set := newHandlerSet(registry(t, map[string]string{"runc": "/usr/sbin/runc"}), "runc")
	if err := set.set(registry(t, nil)); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("removing the default handler: %v", err)
	}
	if err := set.CheckNew(""); err != nil {
		t.Errorf("a refused replacement changed the set: %v", err)
	}
}
