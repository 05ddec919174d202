package stats_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/cricket-cri/cricket/pkg/stats"
)

const limits = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max processes             63498                63498                processes 
Max open files            1024                 1048576              files     
Max locked memory         8388608              8388608              bytes     
Max realtime timeout      unlimited            unlimited            us        
`

// fakeProc makes a /proc with one process per entry: its Threads count
// and its descriptors, a socket for each name "socket".
type fakeProc struct {
	threads int
	fds     []string
	limits  string
}

func newFakeProcRoot(t *testing.T, procs map[int]fakeProc) string {
	t.Helper()
	root := t.TempDir()
	for pid, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, "status"), "Name:\tsh\nState:\tS (sleeping)\nThreads:\t"+strconv.Itoa(p.threads)+"\nCpus_allowed:\t3\n")
		if p.limits != "" {
			write(t, filepath.Join(dir, "limits"), p.limits)
		}
		for i, target := range p.fds {
			if target == "socket" {
				target = "socket:[" + strconv.Itoa(1000+i) + "]"
			}
			if err := os.Symlink(target, filepath.Join(dir, "fd", strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func TestReadProcs(t *testing.T) {
	procs := map[int]fakeProc{
		10: {threads: 1, fds: []string{"/dev/null", "pipe:[7]", "socket"}, limits: limits},
		12: {threads: 3, fds: []string{"/dev/null", "socket", "socket", "anon_inode:[eventfd]"}, limits: "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            64                   64                   files     \n"},
	}
	ulimits10 := []stats.Ulimit{{"max_processes", 63498}, {"max_open_files", 1024}, {"max_locked_memory", 8388608}}
	tests := []struct {
		desc    string
		pids    []int
		rootPid int
		want    stats.ProcStats
	}{
		{
			desc: "two processes, the first one's limits", pids: []int{10, 12},
			want: stats.ProcStats{Processes: 2, FDs: 7, Sockets: 3, Threads: 4, Ulimits: ulimits10},
		},
		{
			desc: "the root process's limits", pids: []int{10, 12}, rootPid: 12,
			want: stats.ProcStats{Processes: 2, FDs: 7, Sockets: 3, Threads: 4, Ulimits: []stats.Ulimit{{"max_open_files", 64}}},
		},
		{
			desc: "a process that exited is left out", pids: []int{99, 12},
			want: stats.ProcStats{Processes: 1, FDs: 4, Sockets: 2, Threads: 3},
		},
		{desc: "no process"},
	}
	root := newFakeProcRoot(t, procs)
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := stats.ReadProcs(root, tc.pids, tc.rootPid)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}

// TestReadProcsSelf reads this test's own process, as the collector reads
// a container's.
func TestReadProcsSelf(t *testing.T) {
	got, err := stats.ReadProcs(stats.DefaultProcRoot, []int{os.Getpid()}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var nofile bool
	for _, u := range got.Ulimits {
		nofile = nofile || (u.Name == "max_open_files" && u.Soft > 0)
	}
	if got.Processes != 1 || got.Threads == 0 || got.FDs < 3 || !nofile {
		t.Fatalf("got %+v", got)
	}
}
