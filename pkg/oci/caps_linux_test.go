package oci

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRestrictCapabilities(t *testing.T) {
	allowed := map[string]bool{"CAP_CHOWN": true, "CAP_KILL": true}
	cases := []struct {
		desc string
		in   []string
		want []string
	}{
		{desc: "all allowed", in: []string{"CAP_CHOWN", "CAP_KILL"}, want: []string{"CAP_CHOWN", "CAP_KILL"}},
		{desc: "missing one dropped", in: []string{"CAP_CHOWN", "CAP_SYS_RESOURCE"}, want: []string{"CAP_CHOWN"}},
		{desc: "empty", in: nil, want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			p := &specs.Process{Capabilities: &specs.LinuxCapabilities{
				Bounding: slices.Clone(tc.in), Effective: slices.Clone(tc.in), Permitted: slices.Clone(tc.in),
			}}
			RestrictCapabilities(p, allowed)
			for _, set := range [][]string{p.Capabilities.Bounding, p.Capabilities.Effective, p.Capabilities.Permitted} {
				if !slices.Equal(set, tc.want) {
					t.Errorf("set = %q, want %q", set, tc.want)
				}
			}
		})
	}
}

func TestBoundingSetHasBasics(t *testing.T) {
	b := BoundingSet()
	if b == nil {
		t.Skip("bounding set unreadable")
	}
	if !b["CAP_CHOWN"] && len(b) > 0 {
		t.Errorf("bounding set without CAP_CHOWN: %v", b)
	}
}
