package oci

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestValidate(t *testing.T) {
	good := func() *specs.Spec {
		s, _ := New(WithDefaults(), WithRootfs("/r", false), WithProcessArgs("/bin/sh"))
		return s
	}
	tests := []struct {
		desc    string
		mutate  func(*specs.Spec)
		wantErr bool
	}{
		{desc: "good"},
		{desc: "no args", mutate: func(s *specs.Spec) { s.Process.Args = nil }, wantErr: true},
		{desc: "relative cwd", mutate: func(s *specs.Spec) { s.Process.Cwd = "x" }, wantErr: true},
		{desc: "no root", mutate: func(s *specs.Spec) { s.Root.Path = "" }, wantErr: true},
		{desc: "relative mount", mutate: func(s *specs.Spec) { s.Mounts = append(s.Mounts, specs.Mount{Destination: "x"}) }, wantErr: true},
		{desc: "duplicate namespace", mutate: func(s *specs.Spec) { s.Linux.Namespaces = append(s.Linux.Namespaces, s.Linux.Namespaces[0]) }, wantErr: true},
		{desc: "unknown namespace", mutate: func(s *specs.Spec) { s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "foo"}} }, wantErr: true},
		{desc: "NUL in env", mutate: func(s *specs.Spec) { s.Process.Env = []string{"A=\x00"} }, wantErr: true},
		{desc: "nil linux", mutate: func(s *specs.Spec) { s.Linux = nil }, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s := good()
			if tc.mutate != nil {
				tc.mutate(s)
			}
			if err := Validate(s); (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
