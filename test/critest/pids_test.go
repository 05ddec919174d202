package main

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

const sampleMountinfo = `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
310 22 0:4 net:[4026532301] /tmp/crt-AbC123/h1/s/pods/p1/ns/net rw shared:5 - nsfs nsfs rw
311 22 0:4 uts:[4026532302] /tmp/crt-AbC123/h1/s/pods/p1/ns/uts rw shared:5 - nsfs nsfs rw
312 22 0:4 net:[4026532999] /run/cricket/pods/other/ns/net rw - nsfs nsfs rw
313 22 0:4 net:[4026533000] /tmp/crt-AbC123-not-ours/net rw - nsfs nsfs rw
314 22 0:4 ipc:[4026533001] /tmp/crt-AbC123/h1/s/with\040space/ipc rw - nsfs nsfs rw
315 22 0:50 / /tmp/crt-AbC123/h1/root/rootfs rw - overlay overlay rw
`

func TestPinnedNamespaces(t *testing.T) {
	got := pinnedNamespaces([]byte(sampleMountinfo), "/tmp/crt-AbC123")
	want := []string{"ipc:[4026533001]", "net:[4026532301]", "uts:[4026532302]"}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Errorf("got %v, want %v", keys, want)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	tests := []struct{ desc, in, want string }{
		{desc: "plain", in: "/a/b", want: "/a/b"},
		{desc: "space", in: `/a\040b`, want: "/a b"},
		{desc: "backslash", in: `/a\134b`, want: `/a\b`},
		{desc: "truncated escape", in: `/a\04`, want: `/a\04`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := unescapeMountinfo(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestMatcherScan starts processes the way run.sh's daemon starts them and
// checks which ones a scan of the real /proc finds.
func TestMatcherScan(t *testing.T) {
	dir := t.TempDir()
	start := func(desc string, setup func(*exec.Cmd)) int {
		t.Helper()
		// "; :" keeps sh from exec'ing sleep, so that its argv stays.
		cmd := exec.Command("sh", "-c", "sleep 60; :", "sh")
		setup(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd.Process.Pid
	}
	marked := start("marked", func(c *exec.Cmd) { c.Env = append(os.Environ(), "CRICKET_CRITEST_RUN=xyz") })
	inDir := start("cwd in dir", func(c *exec.Cmd) { c.Dir = dir })
	named := start("dir on command line", func(c *exec.Cmd) { c.Args = append(c.Args[:len(c.Args)-1], dir+"/x") })
	other := start("unrelated", func(c *exec.Cmd) { c.Env = append(os.Environ(), "CRICKET_CRITEST_RUN=other") })

	m := matcher{dir: dir, marker: "CRICKET_CRITEST_RUN=xyz", exclude: ancestors("/proc", os.Getpid())}
	pids, err := m.scan("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{marked, inDir, named} {
		if !slices.Contains(pids, want) {
			t.Errorf("scan %v misses pid %d", pids, want)
		}
	}
	for _, notWant := range []int{other, os.Getpid(), os.Getppid()} {
		if slices.Contains(pids, notWant) {
			t.Errorf("scan %v includes pid %d", pids, notWant)
		}
	}
}
