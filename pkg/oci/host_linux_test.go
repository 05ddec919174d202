package oci

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestPrepareHost(t *testing.T) {
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte(testPasswd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte(testGroup), 0o644); err != nil {
		t.Fatal(err)
	}
	profile := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc    string
		sc      *runtimeapi.LinuxContainerSecurityContext
		devices []*runtimeapi.Device
		image   string
		check   func(*testing.T, ContainerInput)
		wantErr bool
	}{
		{desc: "image user and device", image: "app", devices: []*runtimeapi.Device{{HostPath: "/dev/null", ContainerPath: "/dev/n", Permissions: "r"}},
			check: func(t *testing.T, in ContainerInput) {
				if in.User.UID != 1000 || !slices.Equal(in.User.AdditionalGids, []uint32{1001, 29, 44}) || len(in.Devices) != 1 || in.AllCapabilities == nil {
					t.Fatalf("input %+v", in)
				}
			}},
		{desc: "localhost seccomp loaded", sc: &runtimeapi.LinuxContainerSecurityContext{Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: profile}},
			check: func(t *testing.T, in ContainerInput) {
				if in.SeccompLocalhost == nil {
					t.Fatal("profile not loaded")
				}
			}},
		{desc: "missing localhost profile", sc: &runtimeapi.LinuxContainerSecurityContext{Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: profile + ".nope"}}, wantErr: true},
		{desc: "unknown user", image: "nobody", wantErr: true},
		{desc: "missing device", devices: []*runtimeapi.Device{{HostPath: "/dev/nonexistent-device"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			in := ContainerInput{
				Config:     &runtimeapi.ContainerConfig{Devices: tc.devices, Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: tc.sc}},
				RootfsPath: rootfs,
				Image:      ImageConfig{User: tc.image},
			}
			err := PrepareHost(&in)
			if tc.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, in)
		})
	}
}
