package cgroups

import (
	"strings"
	"testing"
)

const legacyMountInfo = `24 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
`

func TestParseMountInfo(t *testing.T) {
	tests := []struct {
		desc     string
		in       string
		mode     Mode
		unified  string
		cpuMount string
	}{
		{desc: "legacy", in: legacyMountInfo, mode: Legacy, cpuMount: "/sys/fs/cgroup/cpu,cpuacct"},
		{desc: "hybrid", in: legacyMountInfo + "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n", mode: Hybrid, unified: "/sys/fs/cgroup/unified", cpuMount: "/sys/fs/cgroup/cpu,cpuacct"},
		{desc: "unified", in: "24 1 8:1 / / rw - ext4 /dev/sda1 rw\n30 24 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n", mode: Unified, unified: "/sys/fs/cgroup"},
		{desc: "escaped mount point", in: `30 24 0:26 / /tmp/a\040b rw - cgroup2 cgroup2 rw` + "\n", mode: Unified, unified: "/tmp/a b"},
		{desc: "first mount of a hierarchy wins", in: legacyMountInfo + "50 24 0:29 / /mnt/cpu rw - cgroup cgroup rw,cpu,cpuacct\n", mode: Legacy, cpuMount: "/sys/fs/cgroup/cpu,cpuacct"},
		{desc: "none", in: "24 1 8:1 / / rw - ext4 /dev/sda1 rw\ngarbage\n", mode: 0},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			m, err := ParseMountInfo(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if m.Mode() != tc.mode || m.Unified != tc.unified || m.V1["cpu"] != tc.cpuMount {
				t.Fatalf("got mode %v unified %q v1 %v", m.Mode(), m.Unified, m.V1)
			}
			if tc.cpuMount != "" && (m.V1["cpuacct"] != tc.cpuMount || m.V1["name=systemd"] == "") {
				t.Fatalf("v1 %v", m.V1)
			}
		})
	}
}

func TestModeString(t *testing.T) {
	tests := []struct {
		desc string
		m    Mode
		want string
	}{
		{desc: "legacy", m: Legacy, want: "legacy"},
		{desc: "hybrid", m: Hybrid, want: "hybrid"},
		{desc: "unified", m: Unified, want: "unified"},
		{desc: "unknown", m: 0, want: "Mode(0)"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if tc.m.String() != tc.want {
				t.Fatal(tc.m.String())
			}
		})
	}
}

func mustParse(t *testing.T, mountinfo string) *Mounts {
	t.Helper()
	m, err := ParseMountInfo(strings.NewReader(mountinfo))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
