package cgroups

import (
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestExpandSlice(t *testing.T) {
	tests := []struct{ desc, in, want string }{
		{desc: "root slice", in: "-.slice", want: "/"},
		{desc: "top", in: "kubepods.slice", want: "/kubepods.slice"},
		{desc: "nested", in: "kubepods-burstable-pod12.slice", want: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice"},
		{desc: "not a slice", in: "kubepods", want: ""},
		{desc: "double dash", in: "a--b.slice", want: ""},
		{desc: "slash", in: "a/b.slice", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ExpandSlice(tc.in)
			if got != tc.want || (tc.want == "") != errdefs.IsInvalidArgument(err) {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestSystemdFSPath(t *testing.T) {
	tests := []struct{ desc, in, want string }{
		{desc: "scope", in: "kubepods-besteffort-pod1.slice:cricket:abc", want: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cricket-abc.scope"},
		{desc: "empty slice is system.slice", in: ":cricket:abc", want: "/system.slice/cricket-abc.scope"},
		{desc: "name is a slice", in: "kubepods.slice:cricket:kubepods-x.slice", want: "/kubepods.slice/kubepods-x.slice"},
		{desc: "two parts", in: "a.slice:b", want: ""},
		{desc: "bad slice", in: "a:cricket:b", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := SystemdFSPath(tc.in)
			if got != tc.want || (tc.want == "") != errdefs.IsInvalidArgument(err) {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestChildPath(t *testing.T) {
	tests := []struct {
		desc         string
		d            Driver
		parent, name string
		want         string
	}{
		{desc: "cgroupfs", d: Cgroupfs, parent: "/kubepods/burstable/pod1", name: "sb", want: "/kubepods/burstable/pod1/sb"},
		{desc: "cgroupfs default parent", d: Cgroupfs, name: "sb", want: "/cricket/sb"},
		{desc: "cgroupfs relative parent", d: Cgroupfs, parent: "kubepods", name: "sb", want: "/kubepods/sb"},
		{desc: "cgroupfs escape", d: Cgroupfs, parent: "/../x", name: "sb", want: ""},
		{desc: "systemd", d: Systemd, parent: "kubepods-pod1.slice", name: "sb", want: "kubepods-pod1.slice:cricket:sb"},
		{desc: "systemd default parent", d: Systemd, name: "sb", want: "cricket.slice:cricket:sb"},
		{desc: "systemd parent not a slice", d: Systemd, parent: "/kubepods", name: "sb", want: ""},
		// The kubelet's systemd driver names the pod's slice by its full
		// path (cgroupName.ToSystemd()); containerd and CRI-O take its base.
		{desc: "systemd parent as the kubelet sends it", d: Systemd, parent: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice", name: "sb",
			want: "kubepods-besteffort-pod1.slice:cricket:sb"},
		{desc: "systemd parent path that is not the slice's", d: Systemd, parent: "/kubepods.slice/other.slice", name: "sb", want: ""},
		{desc: "systemd parent path with a non-slice", d: Systemd, parent: "/kubepods.slice/x", name: "sb", want: ""},
		{desc: "bad name", d: Cgroupfs, parent: "/p", name: "../x", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ChildPath(tc.d, tc.parent, tc.name)
			if got != tc.want || (tc.want == "") != errdefs.IsInvalidArgument(err) {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}
