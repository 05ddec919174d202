package oci

import (
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestNormalizePermissions(t *testing.T) {
	tests := []struct{ desc, in, want string }{
		{desc: "empty is all", in: "", want: "rwm"},
		{desc: "reordered", in: "mrw", want: "rwm"},
		{desc: "subset", in: "r", want: "r"},
		{desc: "bad letter", in: "rx", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := NormalizePermissions(tc.in)
			if got != tc.want || (tc.want == "") != (err != nil) {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestWithDevices(t *testing.T) {
	tests := []struct {
		desc    string
		in      []Device
		wantErr bool
	}{
		{desc: "char device", in: []Device{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, Permissions: "rw", FileMode: 0o666}}},
		{desc: "relative path", in: []Device{{Path: "dev/x", Type: "c"}}, wantErr: true},
		{desc: "bad type", in: []Device{{Path: "/dev/x", Type: "p"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, _ := New(WithDefaults())
			err := WithDevices(tc.in)(s)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr {
				return
			}
			r := s.Linux.Resources.Devices
			if len(s.Linux.Devices) != 1 || len(r) != 2 || r[0].Allow || !r[1].Allow || r[1].Access != "rw" || *r[1].Major != 10 {
				t.Fatalf("devices %+v rules %+v", s.Linux.Devices, r)
			}
		})
	}
}

func TestResolveDevice(t *testing.T) {
	tests := []struct {
		desc    string
		in      *runtimeapi.Device
		want    int
		wantErr bool
	}{
		{desc: "dev null", in: &runtimeapi.Device{HostPath: "/dev/null", ContainerPath: "/dev/mynull", Permissions: "rw"}, want: 1},
		{desc: "missing", in: &runtimeapi.Device{HostPath: "/dev/does-not-exist"}, wantErr: true},
		{desc: "regular file", in: &runtimeapi.Device{HostPath: "/etc/hostname"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ResolveDevice(tc.in)
			if (err != nil) != tc.wantErr || len(got) != tc.want {
				t.Fatalf("got %+v, %v", got, err)
			}
			if tc.want == 1 && (got[0].Type != "c" || got[0].Major != 1 || got[0].Minor != 3 || got[0].Path != "/dev/mynull") {
				t.Fatalf("got %+v", got[0])
			}
		})
	}
}
