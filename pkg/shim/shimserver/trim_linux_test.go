package shimserver

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReadOnlyMappings(t *testing.T) {
	maps := []byte(`00400000-00403000 r--p 00000000 fe:00 1 /bin/x
00403000-00b20000 r-xp 00003000 fe:00 1 /bin/x
01376000-013ec000 rw-p 00f76000 fe:00 1 /bin/x
013ec000-0140c000 rw-p 00000000 00:00 0
7f00-7f10 r--s 00000000 fe:00 1 /bin/x
7f20-7f30 r--p 00000000 00:05 9 /dev/zero
7f6cb52cc000-7f6cb5422000 r-xp 00026000 fe:00 2 /usr/lib/libc.so.6
7f6cb5500000-7f6cb5501000 r--p 00000000 fe:00 3 /usr/lib/x (deleted)
7f6cb5600000-7f6cb5601000 r--p 00000000 fe:00 4 /usr/lib/with space
7ffd4d3f6000-7ffd4d3f8000 r-xp 00000000 00:00 0 [vdso]
`)
	got := readOnlyMappings(maps)
	want := [][2]uintptr{{0x400000, 0x403000}, {0x403000, 0xb20000}, {0x7f6cb52cc000, 0x7f6cb5422000}, {0x7f6cb5500000, 0x7f6cb5501000}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("readOnlyMappings = %x, want %x", got, want)
	}
}

func TestCleanRunsSkipsAnonymousPages(t *testing.T) {
	// Fake pagemap of a 5-page mapping at page 0: file, absent, anon, anon, file.
	entries := []uint64{pmPresent | pmFile, 0, pmPresent, pmPresent, pmPresent | pmFile}
	buf := make([]byte, 8*len(entries))
	for i, e := range entries {
		binary.LittleEndian.PutUint64(buf[8*i:], e)
	}
	f, err := os.CreateTemp(t.TempDir(), "pagemap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(buf); err != nil {
		t.Fatal(err)
	}
	got := cleanRuns(f, [2]uintptr{0, 5 * 4096}, 4096)
	want := [][2]uintptr{{0, 2 * 4096}, {4 * 4096, 5 * 4096}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cleanRuns = %x, want %x", got, want)
	}
}

// exeRss sums the resident KiB of this executable's read-only mappings.
func exeRss(t *testing.T) int {
	return fileRss(t, func(path string) bool {
		exe, _ := os.Readlink("/proc/self/exe")
		return path == exe
	})
}

// fileRss sums the resident KiB of the read-only mappings of files that
// match.
func fileRss(t *testing.T, match func(path string) bool) int {
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	total, in := 0, false
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && strings.Contains(f[0], "-") {
			in = len(f) == 6 && match(f[5]) && f[1][1] != 'w'
		}
		if in && len(f) >= 2 && f[0] == "Rss:" {
			n, _ := strconv.Atoi(f[1])
			total += n
		}
	}
	return total
}

// trimChildEnv marks the process TestTrimMemoryDropsFilePages runs its
// measurement in.
const trimChildEnv = "CRICKET_TRIM_TEST_CHILD"

// TestTrimMemoryDropsFilePages checks that a trim drops the clean pages of
// the binary and of the C libraries. It measures in a fresh process of this
// test binary: the servers other tests of this package start trim the
// process a second after their last call, and one that fired first (under
// load, tests run long enough for that) left too little resident to see a
// trim drop anything.
func TestTrimMemoryDropsFilePages(t *testing.T) {
	if os.Getenv(trimChildEnv) == "1" {
		measureTrim(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTrimMemoryDropsFilePages$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), trimChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("measured in a fresh process:\n%s", out)
	if err != nil {
		t.Fatalf("trim measurement failed: %v", err)
	}
}

func measureTrim(t *testing.T) {
	isLibc := func(path string) bool { return strings.Contains(filepath.Base(path), "libc.so") }
	exeBefore, libcBefore := exeRss(t), fileRss(t, isLibc)
	trimMemory()
	exeAfter, libcAfter := exeRss(t), fileRss(t, isLibc)
	t.Logf("read-only pages resident: exe %d -> %d KiB, libc %d -> %d KiB", exeBefore, exeAfter, libcBefore, libcAfter)
	if exeAfter >= exeBefore {
		t.Errorf("trimMemory did not drop exe pages: %d -> %d KiB", exeBefore, exeAfter)
	}
	// A cgo build maps libc and has touched well over 64 KiB of it by now.
	if libcBefore > 64 && libcAfter >= libcBefore {
		t.Errorf("trimMemory did not drop libc pages: %d -> %d KiB", libcBefore, libcAfter)
	}
}

func TestTrimmerFire(t *testing.T) {
	const never = int64(1) << 60
	cases := []struct {
		desc        string
		poked       bool
		trimmed     int64
		wantTrimmed func(int64) bool
	}{
		{desc: "poked: trims, baseline unset", poked: true, trimmed: never, wantTrimmed: func(v int64) bool { return v == 0 }},
		{desc: "first check after a trim sets the baseline", trimmed: 0, wantTrimmed: func(v int64) bool { return v > 0 && v < never }},
		{desc: "grown back since the baseline: trims", trimmed: 1, wantTrimmed: func(v int64) bool { return v == 0 }},
		{desc: "idle and not grown: nothing", trimmed: never, wantTrimmed: func(v int64) bool { return v == never }},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			tr := &trimmer{poked: tc.poked, trimmed: tc.trimmed, timer: time.AfterFunc(time.Hour, func() {})}
			defer tr.timer.Stop()
			tr.fire()
			if !tc.wantTrimmed(tr.trimmed) {
				t.Errorf("baseline after fire = %d", tr.trimmed)
			}
			if tr.poked {
				t.Error("fire left the poke set")
			}
		})
	}
}

func TestSelfRSS(t *testing.T) {
	got := selfRSS()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	var kib int64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	want := kib << 10
	if got < want*9/10 || got > want*11/10 {
		t.Fatalf("selfRSS() = %d bytes, VmRSS says %d", got, want)
	}
}
