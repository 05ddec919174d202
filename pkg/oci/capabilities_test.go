package oci

import (
	"slices"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestWithCapabilities(t *testing.T) {
	tests := []struct {
		desc        string
		in          *runtimeapi.Capability
		has, hasNot []string
		ambient     []string
		wantErr     bool
	}{
		{desc: "nil keeps defaults", in: nil, has: []string{"CAP_CHOWN", "CAP_KILL"}, hasNot: []string{"CAP_SYS_ADMIN"}},
		{desc: "add without prefix", in: &runtimeapi.Capability{AddCapabilities: []string{"sys_admin"}}, has: []string{"CAP_SYS_ADMIN", "CAP_CHOWN"}},
		{desc: "drop", in: &runtimeapi.Capability{DropCapabilities: []string{"CAP_CHOWN"}}, hasNot: []string{"CAP_CHOWN"}, has: []string{"CAP_KILL"}},
		{desc: "add ALL drop one", in: &runtimeapi.Capability{AddCapabilities: []string{"ALL"}, DropCapabilities: []string{"CHOWN"}}, has: []string{"CAP_SYS_ADMIN", "CAP_BPF"}, hasNot: []string{"CAP_CHOWN"}},
		{desc: "drop ALL add one", in: &runtimeapi.Capability{DropCapabilities: []string{"all"}, AddCapabilities: []string{"NET_BIND_SERVICE"}}, has: []string{"CAP_NET_BIND_SERVICE"}, hasNot: []string{"CAP_CHOWN", "CAP_KILL"}},
		{desc: "ambient raised everywhere", in: &runtimeapi.Capability{AddAmbientCapabilities: []string{"NET_ADMIN"}}, has: []string{"CAP_NET_ADMIN"}, ambient: []string{"CAP_NET_ADMIN"}},
		{desc: "unknown capability", in: &runtimeapi.Capability{AddCapabilities: []string{"CAP_FLY"}}, wantErr: true},
		{desc: "unknown ambient", in: &runtimeapi.Capability{AddAmbientCapabilities: []string{"FLY"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, _ := New(WithDefaults())
			err := WithCapabilities(tc.in, nil)(s)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr {
				return
			}
			c := s.Process.Capabilities
			for _, set := range [][]string{c.Bounding, c.Effective, c.Permitted} {
				for _, h := range tc.has {
					if !slices.Contains(set, h) {
						t.Errorf("missing %s in %v", h, set)
					}
				}
				for _, h := range tc.hasNot {
					if slices.Contains(set, h) {
						t.Errorf("unexpected %s", h)
					}
				}
			}
			if !slices.Equal(c.Ambient, tc.ambient) {
				t.Errorf("ambient = %v, want %v", c.Ambient, tc.ambient)
			}
			for _, a := range tc.ambient {
				if !slices.Contains(c.Inheritable, a) {
					t.Errorf("ambient %s not inheritable", a)
				}
			}
		})
	}
}

func TestNormalizeCapability(t *testing.T) {
	tests := []struct{ desc, in, want string }{
		{desc: "lower no prefix", in: "net_raw", want: "CAP_NET_RAW"},
		{desc: "prefixed", in: "CAP_BPF", want: "CAP_BPF"},
		{desc: "unknown", in: "nope", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := NormalizeCapability(tc.in)
			if got != tc.want || (tc.want == "") != (err != nil) {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestCapabilitiesFromMask(t *testing.T) {
	tests := []struct {
		desc string
		mask uint64
		want []string
	}{
		{desc: "none", mask: 0},
		{desc: "chown and kill", mask: 1<<0 | 1<<5, want: []string{"CAP_CHOWN", "CAP_KILL"}},
		{desc: "host without sys_resource", mask: 0x000001fffeffffff, want: slices.DeleteFunc(slices.Clone(AllCapabilities), func(c string) bool { return c == "CAP_SYS_RESOURCE" })},
		{desc: "unknown high bits ignored", mask: 1 << 63},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := CapabilitiesFromMask(tc.mask); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v", got)
			}
		})
	}
}

func TestAddAllUsesGivenSet(t *testing.T) {
	s, _ := New(WithDefaults())
	if err := WithCapabilities(&runtimeapi.Capability{AddCapabilities: []string{"ALL"}}, []string{"CAP_CHOWN", "CAP_BPF"})(s); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Process.Capabilities.Bounding, []string{"CAP_CHOWN", "CAP_BPF"}) {
		t.Fatalf("caps %v", s.Process.Capabilities.Bounding)
	}
}

func TestCurrentCapabilities(t *testing.T) {
	caps, err := CurrentCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		if _, err := NormalizeCapability(c); err != nil {
			t.Fatal(err)
		}
	}
}
