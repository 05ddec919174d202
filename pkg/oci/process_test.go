package oci

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestContainerArgs(t *testing.T) {
	tests := []struct {
		desc                           string
		command, args, entrypoint, cmd []string
		want                           []string
		wantErr                        bool
	}{
		{desc: "image only", entrypoint: []string{"/ep"}, cmd: []string{"a"}, want: []string{"/ep", "a"}},
		{desc: "cmd only", cmd: []string{"/bin/sh", "-c", "x"}, want: []string{"/bin/sh", "-c", "x"}},
		{desc: "CRI command replaces entrypoint and drops cmd", command: []string{"/c"}, entrypoint: []string{"/ep"}, cmd: []string{"a"}, want: []string{"/c"}},
		{desc: "CRI args replace cmd", args: []string{"b"}, entrypoint: []string{"/ep"}, cmd: []string{"a"}, want: []string{"/ep", "b"}},
		{desc: "CRI command and args", command: []string{"/c"}, args: []string{"b"}, entrypoint: []string{"/ep"}, cmd: []string{"a"}, want: []string{"/c", "b"}},
		{desc: "empty-string entrypoint is unset", entrypoint: []string{""}, cmd: []string{"/x"}, want: []string{"/x"}},
		{desc: "nothing to run", wantErr: true},
		{desc: "NUL in arg", command: []string{"/a\x00b"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ContainerArgs(tc.command, tc.args, tc.entrypoint, tc.cmd)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want InvalidArgument", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestWithEnv(t *testing.T) {
	tests := []struct {
		desc    string
		base    []string
		add     []string
		want    []string
		wantErr bool
	}{
		{desc: "append", base: []string{DefaultPath}, add: []string{"A=1"}, want: []string{DefaultPath, "A=1"}},
		{desc: "replace in place", base: []string{"A=1", "B=2"}, add: []string{"A=3"}, want: []string{"A=3", "B=2"}},
		{desc: "PATH from image replaces default", base: []string{DefaultPath}, add: []string{"PATH=/x"}, want: []string{"PATH=/x"}},
		{desc: "NUL rejected", add: []string{"A=\x00"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s := &specs.Spec{Process: &specs.Process{Env: slices.Clone(tc.base)}}
			err := WithEnv(tc.add)(s)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tc.wantErr && !slices.Equal(s.Process.Env, tc.want) {
				t.Fatalf("env = %q, want %q", s.Process.Env, tc.want)
			}
		})
	}
}

func TestCRIEnv(t *testing.T) {
	tests := []struct {
		desc    string
		in      []*runtimeapi.KeyValue
		want    []string
		wantErr bool
	}{
		{desc: "pairs", in: []*runtimeapi.KeyValue{{Key: "A", Value: []byte("1")}, {Key: "B"}}, want: []string{"A=1", "B="}},
		{desc: "empty key skipped", in: []*runtimeapi.KeyValue{{Key: "", Value: []byte("x")}}, want: []string{}},
		{desc: "= in key", in: []*runtimeapi.KeyValue{{Key: "A=B"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := CRIEnv(tc.in)
			if (err != nil) != tc.wantErr || (!tc.wantErr && !slices.Equal(got, tc.want)) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestWithCwd(t *testing.T) {
	tests := []struct {
		desc, in, want string
		wantErr        bool
	}{
		{desc: "empty is root", in: "", want: "/"},
		{desc: "cleaned", in: "/a/../b/", want: "/b"},
		{desc: "relative rejected", in: "a", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, _ := New()
			err := WithCwd(tc.in)(s)
			if (err != nil) != tc.wantErr || (!tc.wantErr && s.Process.Cwd != tc.want) {
				t.Fatalf("cwd %q, err %v", s.Process.Cwd, err)
			}
		})
	}
}

func TestWithOOMScoreAdj(t *testing.T) {
	min := -500
	tests := []struct {
		desc    string
		v       int64
		min     *int
		want    int
		wantErr bool
	}{
		{desc: "as asked", v: 100, want: 100},
		{desc: "clamped up to the daemon's", v: -999, min: &min, want: -500},
		{desc: "above min unchanged", v: 0, min: &min, want: 0},
		{desc: "out of range", v: 1001, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, _ := New()
			err := WithOOMScoreAdj(tc.v, tc.min)(s)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tc.wantErr && *s.Process.OOMScoreAdj != tc.want {
				t.Fatalf("oom = %d, want %d", *s.Process.OOMScoreAdj, tc.want)
			}
		})
	}
}

func TestWithRlimits(t *testing.T) {
	tests := []struct {
		desc    string
		in      []specs.POSIXRlimit
		wantErr bool
	}{
		{desc: "nofile", in: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 2048, Soft: 1024}}},
		{desc: "soft above hard", in: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1, Soft: 2}}, wantErr: true},
		{desc: "bad type", in: []specs.POSIXRlimit{{Type: "NOFILE"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, _ := New()
			if err := WithRlimits(tc.in)(s); (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
