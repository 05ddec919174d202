package shimserver

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOOMCounter(t *testing.T) {
	root := t.TempDir()
	old := cgroupRoot
	cgroupRoot = root
	defer func() { cgroupRoot = old }()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("memory/pod/c1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
	write("kubepods/c2/memory.events", "low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n")
	tests := []struct {
		desc, procCgroup string
		want             int64
	}{
		{desc: "v1 memory wins on hybrid", procCgroup: "4:memory:/pod/c1\n0::/pod/c1\n", want: 2},
		{desc: "v1 joint controllers", procCgroup: "3:cpu,memory:/pod/c1\n", want: 2},
		{desc: "v2 unified", procCgroup: "0::/kubepods/c2\n", want: 1},
		{desc: "v2 without memory.events", procCgroup: "0::/nowhere\n", want: -1},
		{desc: "nothing", procCgroup: "", want: -1},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := oomCounterFrom([]byte(tc.procCgroup)).Count(); got != tc.want {
				t.Fatalf("Count() = %d, want %d", got, tc.want)
			}
		})
	}
}
