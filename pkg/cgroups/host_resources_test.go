package cgroups

import (
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestHostResourcesFit(t *testing.T) {
	huge := func() *specs.LinuxResources {
		return &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 0}}}
	}
	cases := []struct {
		desc      string
		h         HostResources
		res       *specs.LinuxResources
		wantHuge  int
		wantError error
	}{
		{desc: "nil", h: HostResources{}, res: nil},
		{desc: "hugepages kept with hugetlb", h: HostResources{hugetlb: true}, res: huge(), wantHuge: 1},
		{desc: "hugepages dropped without hugetlb", h: HostResources{}, res: huge(), wantHuge: 0},
		{desc: "unified on v2", h: HostResources{unified: true, hugetlb: true}, res: &specs.LinuxResources{Unified: map[string]string{"memory.high": "1M"}}},
		{desc: "unified on v1", h: HostResources{hugetlb: true}, res: &specs.LinuxResources{Unified: map[string]string{"memory.high": "1M"}}, wantError: errdefs.ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			err := tc.h.Fit(tc.res)
			if !errors.Is(err, tc.wantError) {
				t.Fatalf("err = %v, want %v", err, tc.wantError)
			}
			if tc.res != nil && len(tc.res.HugepageLimits) != tc.wantHuge {
				t.Errorf("hugepage limits = %v, want %d", tc.res.HugepageLimits, tc.wantHuge)
			}
		})
	}
}
