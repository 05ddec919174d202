package shim

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestReadOnlyMappings(t *testing.T) {
	maps := []byte(`00400000-00403000 r--p 00000000 fe:00 1 /bin/x
00403000-00b20000 r-xp 00003000 fe:00 1 /bin/x
01376000-013ec000 rw-p 00f76000 fe:00 1 /bin/x
7f00-7f10 r--s 00000000 fe:00 1 /bin/x
7f6cb52cc000-7f6cb5422000 r-xp 00026000 fe:00 2 /usr/lib/libc.so.6
`)
	got := readOnlyMappings(maps, "/bin/x")
	want := [][2]uintptr{{0x400000, 0x403000}, {0x403000, 0xb20000}}
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
	exe, _ := os.Readlink("/proc/self/exe")
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	total, in := 0, false
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && strings.Contains(f[0], "-") {
			in = f[5] == exe && f[1][1] != 'w'
		}
		if in && len(f) >= 2 && f[0] == "Rss:" {
			n, _ := strconv.Atoi(f[1])
			total += n
		}
	}
	return total
}

func TestTrimMemoryDropsExePages(t *testing.T) {
	before := exeRss(t)
	trimMemory()
	after := exeRss(t)
	t.Logf("read-only exe pages resident: %d KiB before, %d KiB after", before, after)
	if after >= before {
		t.Fatalf("trimMemory did not drop pages: %d -> %d KiB", before, after)
	}
}
