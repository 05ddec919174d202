package nsutil

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	_ "github.com/cricket-cri/cricket/pkg/mainthread"
	"github.com/cricket-cri/cricket/test/testutil"
)

func nsIno(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

// selfNS returns the inodes of the namespaces of every thread of this
// process, keyed by kind: all threads must stay in the host's.
func threadNS(t *testing.T, kind Kind) map[uint64]bool {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]bool{}
	for _, task := range tasks {
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/self/task/%s/ns/%s", task.Name(), kind), &st) == nil {
			out[st.Ino] = true
		}
	}
	return out
}

func mountedAt(t *testing.T, prefix string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], prefix) {
			out = append(out, fields[4])
		}
	}
	return out
}

func TestCreateRejects(t *testing.T) {
	tests := []struct {
		desc string
		opts Options
	}{
		{desc: "pid cannot be created", opts: Options{Kinds: []Kind{PID}}},
		{desc: "unknown kind", opts: Options{Kinds: []Kind{"mnt"}}},
		{desc: "hostname without uts", opts: Options{Kinds: []Kind{Net}, Hostname: "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := Create(t.TempDir(), tc.opts); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestUnpinIdempotent(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		desc string
		path string
		prep func(string)
	}{
		{desc: "missing file", path: filepath.Join(dir, "none")},
		{desc: "plain file", path: filepath.Join(dir, "plain"), prep: func(p string) { _ = os.WriteFile(p, nil, 0o644) }},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if tc.prep != nil {
				tc.prep(tc.path)
			}
			if IsPinned(tc.path) {
				t.Fatal("pinned")
			}
			if err := Unpin(tc.path); err != nil {
				t.Fatal(err)
			}
			if err := Unpin(tc.path); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(tc.path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("file left: %v", err)
			}
		})
	}
}

func TestCreatePinUnpin(t *testing.T) {
	testutil.RequireRoot(t)
	hostNet, hostIPC, hostUTS := threadNS(t, Net), threadNS(t, IPC), threadNS(t, UTS)
	hostName, _ := os.Hostname()
	dir := filepath.Join(t.TempDir(), "ns")

	pinned, err := Create(dir, Options{Kinds: []Kind{Net, IPC, UTS}, Hostname: "pod-host", LoopbackUp: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = UnpinAll(dir) })
	host := map[Kind]map[uint64]bool{Net: hostNet, IPC: hostIPC, UTS: hostUTS}
	for _, k := range []Kind{Net, IPC, UTS} {
		p := pinned[k]
		if !IsPinned(p) {
			t.Fatalf("%s not pinned", p)
		}
		if host[k][nsIno(t, p)] {
			t.Fatalf("%s namespace is the host's", k)
		}
	}
	checkInside(t, pinned)
	// Many throwaway threads: none may leave the main thread (whose
	// namespaces /proc/self shows) or any other live thread in the pod's.
	for i := 0; i < 50; i++ {
		if err := Do(pinned[UTS], func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	waitThreadsInHostNS(t, host)
	if h, _ := os.Hostname(); h != hostName {
		t.Fatalf("host name changed to %q", h)
	}

	if err := UnpinAll(dir); err != nil {
		t.Fatal(err)
	}
	if m := mountedAt(t, dir); len(m) != 0 {
		t.Fatalf("mounts left: %v", m)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir left: %v", err)
	}
	if err := UnpinAll(dir); err != nil {
		t.Fatalf("second UnpinAll: %v", err)
	}
}

// waitThreadsInHostNS fails unless, shortly, every thread of the process
// is in the host's namespaces again: the throwaway threads must have died.
func waitThreadsInHostNS(t *testing.T, host map[Kind]map[uint64]bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		foreign := ""
		for k, want := range host {
			for ino := range threadNS(t, k) {
				if !want[ino] {
					foreign = string(k)
				}
			}
		}
		if foreign == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a thread of the process stays in a new %s namespace", foreign)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func checkInside(t *testing.T, pinned Pinned) {
	t.Helper()
	var name string
	if err := Do(pinned[UTS], func() error {
		var err error
		name, err = os.Hostname()
		return err
	}); err != nil || name != "pod-host" {
		t.Fatalf("hostname in pod = %q, %v", name, err)
	}
	var flags uint16
	if err := Do(pinned[Net], func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		ifr, _ := unix.NewIfreq("lo")
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
			return err
		}
		flags = ifr.Uint16()
		return nil
	}); err != nil || flags&unix.IFF_UP == 0 {
		t.Fatalf("lo flags %#x, %v", flags, err)
	}
}

func TestCreateConcurrent(t *testing.T) {
	testutil.RequireRoot(t)
	base := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			dir := filepath.Join(base, fmt.Sprint(i))
			if _, err := Create(dir, Options{Kinds: []Kind{Net, UTS}, LoopbackUp: true}); err != nil {
				errs <- err
				return
			}
			errs <- UnpinAll(dir)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestCreateExistingFileKept(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	other := filepath.Join(dir, string(IPC))
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(dir, Options{Kinds: []Kind{Net, IPC}}); err == nil {
		t.Fatal("created over an existing file")
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("existing file removed: %v", err)
	}
	if IsPinned(filepath.Join(dir, string(Net))) {
		t.Fatal("net left pinned after failure")
	}
}

func TestPinFromPID(t *testing.T) {
	testutil.RequireRoot(t)
	target := filepath.Join(t.TempDir(), "net")
	if err := PinFromPID(os.Getpid(), Net, target); err != nil {
		t.Fatal(err)
	}
	if !IsPinned(target) || nsIno(t, target) != nsIno(t, "/proc/self/ns/net") {
		t.Fatal("not pinned to our netns")
	}
	if err := Unpin(target); err != nil {
		t.Fatal(err)
	}
}
