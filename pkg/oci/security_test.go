package oci

import (
	"slices"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestWithPrivileged(t *testing.T) {
	s, _ := New(WithDefaults())
	s.Linux.Seccomp = DefaultSeccompProfile(nil, "amd64")
	s.Process.ApparmorProfile = "x"
	dev := Device{Path: "/dev/sda", Type: "b", Major: 8, Minor: 0}
	if err := WithPrivileged([]Device{dev}, nil)(s); err != nil {
		t.Fatal(err)
	}
	if len(s.Linux.MaskedPaths)+len(s.Linux.ReadonlyPaths) != 0 || s.Linux.Seccomp != nil || s.Process.ApparmorProfile != "" {
		t.Fatalf("privileged kept confinement: %+v", s.Linux)
	}
	if len(s.Process.Capabilities.Bounding) != len(AllCapabilities) {
		t.Fatalf("caps = %v", s.Process.Capabilities.Bounding)
	}
	for _, m := range s.Mounts {
		if (m.Type == "sysfs" || m.Type == "cgroup") && slices.Contains(m.Options, "ro") {
			t.Fatalf("%s still read-only", m.Destination)
		}
	}
	if !s.Linux.Resources.Devices[0].Allow || len(s.Linux.Devices) != 1 {
		t.Fatalf("devices = %+v / %+v", s.Linux.Resources.Devices, s.Linux.Devices)
	}
}

func TestWithMaskedAndReadonlyPaths(t *testing.T) {
	tests := []struct {
		desc         string
		masked, ro   []string
		wantMasked   []string
		wantReadonly []string
		wantErr      bool
	}{
		{desc: "empty keeps defaults", wantMasked: DefaultMaskedPaths, wantReadonly: DefaultReadonlyPaths},
		{desc: "replaced", masked: []string{"/bin/ls"}, ro: []string{"/etc"}, wantMasked: []string{"/bin/ls"}, wantReadonly: []string{"/etc"}},
		{desc: "relative rejected", masked: []string{"bin"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, _ := New(WithDefaults())
			err := WithMaskedPaths(tc.masked)(s)
			if err == nil {
				err = WithReadonlyPaths(tc.ro)(s)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tc.wantErr && (!slices.Equal(s.Linux.MaskedPaths, tc.wantMasked) || !slices.Equal(s.Linux.ReadonlyPaths, tc.wantReadonly)) {
				t.Fatalf("masked %v readonly %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
			}
		})
	}
}

func TestAppArmorProfile(t *testing.T) {
	on := AppArmor{Enabled: true, DefaultProfile: "cricket-default"}
	tests := []struct {
		desc       string
		p          *runtimeapi.SecurityProfile
		deprecated string
		aa         AppArmor
		want       string
		wantErr    bool
	}{
		{desc: "runtime default on", p: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}, aa: on, want: "cricket-default"},
		{desc: "runtime default off", p: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}, want: ""},
		{desc: "unconfined on", p: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}, aa: on, want: "unconfined"},
		{desc: "localhost on", p: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "mine"}, aa: on, want: "mine"},
		{desc: "localhost off is an error", p: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "mine"}, wantErr: true},
		{desc: "deprecated localhost", deprecated: "localhost/p", aa: on, want: "p"},
		{desc: "deprecated garbage", deprecated: "what", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := AppArmorProfile(tc.p, tc.deprecated, tc.aa)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestWithSELinuxLabel(t *testing.T) {
	tests := []struct {
		desc    string
		o       *runtimeapi.SELinuxOption
		enabled bool
		want    string
	}{
		{desc: "ignored when disabled", o: &runtimeapi.SELinuxOption{User: "u", Role: "r", Type: "t", Level: "s0"}},
		{desc: "label when enabled", o: &runtimeapi.SELinuxOption{User: "u", Role: "r", Type: "t", Level: "s0"}, enabled: true, want: "u:r:t:s0"},
		{desc: "empty options", o: &runtimeapi.SELinuxOption{}, enabled: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, _ := New()
			if err := WithSELinuxLabel(tc.o, tc.enabled)(s); err != nil || s.Process.SelinuxLabel != tc.want {
				t.Fatalf("label %q, %v", s.Process.SelinuxLabel, err)
			}
		})
	}
}
