package oci

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSetRootfsPropagation(t *testing.T) {
	cases := []struct {
		desc string
		opts [][]string
		want string
	}{
		{desc: "private mounts leave it alone", opts: [][]string{{"rbind", "rprivate"}}, want: ""},
		{desc: "host to container", opts: [][]string{{"rbind", "rslave"}}, want: "rslave"},
		{desc: "bidirectional wins", opts: [][]string{{"rbind", "rslave"}, {"rbind", "rshared"}}, want: "rshared"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			s := &specs.Spec{Linux: &specs.Linux{}}
			for _, o := range tc.opts {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/v", Type: "bind", Options: o})
			}
			SetRootfsPropagation(s)
			if s.Linux.RootfsPropagation != tc.want {
				t.Errorf("got %q, want %q", s.Linux.RootfsPropagation, tc.want)
			}
		})
	}
}
