package cgroups

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestHasController(t *testing.T) {
	v1, _ := fakeV1(t, true)
	v2, root := fakeV2(t)
	cases := []struct {
		desc string
		m    Manager
		name string
		want bool
	}{
		{desc: "v1 mounted", m: v1, name: "memory", want: true},
		{desc: "v1 co-mounted", m: v1, name: "cpuacct", want: true},
		{desc: "v1 not mounted", m: v1, name: "rdma", want: false},
		{desc: "v2 listed", m: v2, name: "hugetlb", want: true},
		{desc: "v2 not listed", m: v2, name: "devices", want: false},
		{desc: "v2 prefix is not a match", m: v2, name: "huge", want: false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := tc.m.HasController(tc.name); got != tc.want {
				t.Errorf("HasController(%q) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
	t.Run("v2 without hugetlb", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory pids\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if v2.HasController("hugetlb") {
			t.Error("hugetlb reported after the root stopped listing it")
		}
	})
}

// TestRemoveLeftoverChild: a container cgroup a failed runtime left
// behind does not keep its pod's cgroup from being removed.
func TestRemoveLeftoverChild(t *testing.T) {
	// Like cgroupfs: a cgroup with child cgroups cannot be removed.
	rmdir := func(d string) error {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.IsDir() {
				return unix.ENOTEMPTY
			}
		}
		return os.RemoveAll(d)
	}
	v1, _ := fakeV1(t, true)
	v2, _ := fakeV2(t)
	v1.rmdir, v2.rmdir = rmdir, rmdir
	for name, m := range map[string]Manager{"v1": v1, "v2": v2} {
		t.Run(name, func(t *testing.T) {
			if err := m.Create("/pod/ctr", nil); err != nil {
				t.Fatal(err)
			}
			if err := m.Remove(context.Background(), "/pod"); err != nil {
				t.Fatal(err)
			}
			if m.Exists("/pod/ctr") || m.Exists("/pod") {
				t.Error("pod or leftover container cgroup still exists")
			}
		})
	}
}
