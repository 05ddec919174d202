package oci

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestNew(t *testing.T) {
	tests := []struct {
		desc        string
		opts        []SpecOpt
		wantVersion string
		wantErr     bool
	}{
		{desc: "skeleton", wantVersion: SpecVersion},
		{desc: "defaults", opts: []SpecOpt{WithDefaults(), WithRootfs("/r", true), WithCgroupsPath("/a/b")}, wantVersion: SpecVersion},
		{desc: "idmapped mount needs 1.2", opts: []SpecOpt{WithMounts([]specs.Mount{{Destination: "/d", UIDMappings: []specs.LinuxIDMapping{{Size: 1}}}})}, wantVersion: specs.Version},
		{desc: "empty rootfs", opts: []SpecOpt{WithRootfs("", false)}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, err := New(tc.opts...)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || s.Version != tc.wantVersion {
				t.Fatalf("version %q, %v", s.Version, err)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	s, err := New(WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Linux.MaskedPaths, DefaultMaskedPaths) || !slices.Equal(s.Process.Capabilities.Bounding, DefaultCapabilities()) {
		t.Fatalf("linux %+v", s.Linux)
	}
	if s.Linux.Resources.Devices[0].Allow || s.Linux.Namespaces[0].Type != specs.MountNamespace {
		t.Fatalf("devices %+v ns %+v", s.Linux.Resources.Devices, s.Linux.Namespaces)
	}
	// Callers may edit what they get without changing the package defaults.
	s.Linux.MaskedPaths[0] = "/changed"
	s.Mounts[0].Destination = "/changed"
	if DefaultMaskedPaths[0] == "/changed" || DefaultMounts()[0].Destination == "/changed" {
		t.Fatal("defaults aliased")
	}
}

func TestWithAnnotations(t *testing.T) {
	s, _ := New(WithAnnotations(map[string]string{"a": "1"}), WithAnnotations(map[string]string{"b": "2"}), WithAnnotations(nil))
	if len(s.Annotations) != 2 {
		t.Fatalf("annotations %v", s.Annotations)
	}
}
