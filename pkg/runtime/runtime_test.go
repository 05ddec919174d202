package runtime_test

import (
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	. "github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/runtime/runtimetest"
)

func TestRegistryLookup(t *testing.T) {
	r, err := NewRegistry(map[string]string{"runc": "/usr/sbin/runc", "crun": "/usr/bin/crun", "fast": "builtin"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc, name string
		want       Handler
		notFound   bool
	}{
		{desc: "empty name is the builtin", name: "", want: Handler{Name: DefaultHandler, Kind: KindBuiltin}},
		{desc: "cricket is the builtin", name: "cricket", want: Handler{Name: DefaultHandler, Kind: KindBuiltin}},
		{desc: "alias of the builtin", name: "fast", want: Handler{Name: "fast", Kind: KindBuiltin}},
		{desc: "runc binary", name: "runc", want: Handler{Name: "runc", Kind: KindRuncCLI, Path: "/usr/sbin/runc"}},
		{desc: "crun binary", name: "crun", want: Handler{Name: "crun", Kind: KindRuncCLI, Path: "/usr/bin/crun"}},
		{desc: "unknown name", name: "kata", notFound: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			h, err := r.Lookup(tc.name)
			if tc.notFound {
				if !errdefs.IsNotFound(err) {
					t.Fatalf("Lookup(%q) error = %v, want NotFound", tc.name, err)
				}
				return
			}
			if err != nil || h != tc.want {
				t.Fatalf("Lookup(%q) = %+v, %v; want %+v", tc.name, h, err, tc.want)
			}
		})
	}
	if n := len(r.Handlers()); n != 4 {
		t.Errorf("Handlers() has %d entries, want 4", n)
	}
}

func TestNewRegistryRejects(t *testing.T) {
	tests := []struct {
		desc     string
		binaries map[string]string
	}{
		{desc: "relative path", binaries: map[string]string{"runc": "runc"}},
		{desc: "empty name", binaries: map[string]string{"": "/usr/sbin/runc"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := NewRegistry(tc.binaries); !errdefs.IsInvalidArgument(err) {
				t.Fatalf("NewRegistry(%v) error = %v, want InvalidArgument", tc.binaries, err)
			}
		})
	}
}

func TestNewUnknownKind(t *testing.T) {
	_, err := New(Handler{Name: "x", Kind: "vm"}, Options{Root: t.TempDir(), Reaper: NewReaper()})
	if !errdefs.IsNotFound(err) {
		t.Fatalf("New with unknown kind: %v, want NotFound", err)
	}
}

func TestRuncCLIMissingBinary(t *testing.T) {
	_, err := New(Handler{Name: "x", Kind: KindRuncCLI, Path: "/nonexistent/runc"}, Options{Root: t.TempDir(), Reaper: NewReaper()})
	if !errdefs.IsNotFound(err) {
		t.Fatalf("New with missing binary: %v, want NotFound", err)
	}
}

func TestSpecRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadSpec(dir); !errdefs.IsNotFound(err) {
		t.Fatalf("LoadSpec of empty bundle: %v, want NotFound", err)
	}
	spec := runtimetest.Spec("c1", "rootfs", "sh")
	if err := WriteSpec(dir, spec); err != nil {
		t.Fatal(err)
	}
	got, err := LoadSpec(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hostname != "c1" || got.Process.Args[0] != "sh" {
		t.Fatalf("LoadSpec = %+v", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSpec(dir); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("LoadSpec of bad JSON: %v, want InvalidArgument", err)
	}
}

func TestOwnsPidNamespace(t *testing.T) {
	linux := func(ns ...specs.LinuxNamespace) *specs.Spec {
		return &specs.Spec{Linux: &specs.Linux{Namespaces: ns}}
	}
	tests := []struct {
		desc string
		spec *specs.Spec
		want bool
	}{
		{desc: "new pid namespace", spec: linux(specs.LinuxNamespace{Type: specs.NetworkNamespace}, specs.LinuxNamespace{Type: specs.PIDNamespace}), want: true},
		{desc: "pod's pid namespace, joined by path", spec: linux(specs.LinuxNamespace{Type: specs.PIDNamespace, Path: "/run/cricket/pods/p/ns/pid"})},
		{desc: "host pid namespace: no entry", spec: linux(specs.LinuxNamespace{Type: specs.MountNamespace})},
		{desc: "no linux section", spec: &specs.Spec{}},
		{desc: "no spec", spec: nil},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := OwnsPidNamespace(tc.spec); got != tc.want {
				t.Fatalf("OwnsPidNamespace = %v, want %v", got, tc.want)
			}
		})
	}
}
