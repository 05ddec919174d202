package oci

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
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
	rd := &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	unconfined := &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
	local := func(ref string) *runtimeapi.SecurityProfile {
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: ref}
	}
	tests := []struct {
		desc       string
		p          *runtimeapi.SecurityProfile
		deprecated string
		aa         AppArmor
		privileged bool
		want       string
		wantErr    string
	}{
		{desc: "runtime default on", p: rd, aa: on, want: "cricket-default"},
		{desc: "runtime default off", p: rd, want: ""},
		{desc: "no request on is runtime default", aa: on, want: "cricket-default"},
		{desc: "no request off", want: ""},
		{desc: "no request, privileged, runs unconfined", aa: on, privileged: true, want: ""},
		{desc: "runtime default, privileged, runs unconfined", p: rd, aa: on, privileged: true, want: ""},
		{desc: "deprecated runtime/default, privileged, runs unconfined", deprecated: "runtime/default", aa: on, privileged: true, want: ""},
		{desc: "localhost, privileged, is applied", p: local("mine"), aa: on, privileged: true, want: "mine"},
		{desc: "unconfined on is no profile", p: unconfined, aa: on, want: ""},
		{desc: "deprecated unconfined on", deprecated: "unconfined", aa: on, want: ""},
		{desc: "localhost on", p: local("mine"), aa: on, want: "mine"},
		{desc: "localhost ref with the kubelet's prefix", p: local("localhost/mine"), aa: on, want: "mine"},
		{desc: "localhost off is an error naming it", p: local("localhost/mine"), wantErr: `apparmor profile "mine" requested but apparmor is not enabled`},
		{desc: "localhost without a name", p: local(""), aa: on, wantErr: "without a name"},
		{desc: "localhost prefix only", p: local("localhost/"), aa: on, wantErr: "without a name"},
		{desc: "deprecated localhost", deprecated: "localhost/p", aa: on, want: "p"},
		{desc: "deprecated runtime/default", deprecated: "runtime/default", aa: on, want: "cricket-default"},
		{desc: "structured field wins", p: local("localhost/new"), deprecated: "localhost/old", aa: on, want: "new"},
		{desc: "deprecated garbage", deprecated: "what", aa: on, wantErr: "unknown security profile"},
		{desc: "unknown type", p: &runtimeapi.SecurityProfile{ProfileType: 7}, aa: on, wantErr: "unknown security profile type"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := AppArmorProfile(tc.p, tc.deprecated, tc.aa, tc.privileged)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("got %q, %v; want InvalidArgument with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestContainerAppArmor: the profile reaches the spec, and privileged
// containers drop RuntimeDefault but keep a Localhost profile.
func TestContainerAppArmor(t *testing.T) {
	tests := []struct {
		desc       string
		privileged bool
		p          *runtimeapi.SecurityProfile
		want       string
	}{
		{desc: "no request", want: "cricket-default"},
		{desc: "privileged, no request", privileged: true, want: ""},
		{desc: "privileged, localhost", privileged: true, p: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "localhost/x"}, want: "x"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			in := testInput(baseConfig())
			in.AppArmor = AppArmor{Enabled: true, DefaultProfile: "cricket-default"}
			in.Config.Linux.SecurityContext.Privileged, in.Config.Linux.SecurityContext.Apparmor = tc.privileged, tc.p
			if tc.privileged {
				in.Pod.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{Privileged: true}}
			}
			s, err := BuildContainerSpec(in)
			if err != nil {
				t.Fatal(err)
			}
			if s.Process.ApparmorProfile != tc.want {
				t.Fatalf("apparmorProfile %q, want %q", s.Process.ApparmorProfile, tc.want)
			}
		})
	}
}

func TestWithSELinuxLabels(t *testing.T) {
	s, _ := New(WithDefaults())
	if err := WithSELinuxLabels("system_u:system_r:container_t:s0:c1,c2", "system_u:object_r:container_file_t:s0:c1,c2")(s); err != nil {
		t.Fatal(err)
	}
	if s.Process.SelinuxLabel != "system_u:system_r:container_t:s0:c1,c2" || s.Linux.MountLabel != "system_u:object_r:container_file_t:s0:c1,c2" {
		t.Fatalf("labels %q %q", s.Process.SelinuxLabel, s.Linux.MountLabel)
	}
	if err := WithSELinuxLabels("", "")(s); err != nil || s.Process.SelinuxLabel != "" || s.Linux.MountLabel != "" {
		t.Fatalf("empty labels left %q %q", s.Process.SelinuxLabel, s.Linux.MountLabel)
	}
}
