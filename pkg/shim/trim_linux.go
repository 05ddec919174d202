package shim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// trimDelay is how long the shim must be idle before it trims its memory.
const trimDelay = time.Second

// trimmer returns the shim's memory to the kernel once it goes idle.
// Start-up and the first container start touch many read-only pages of the
// shim binary and of the C libraries it links (libc, the dynamic loader,
// libseccomp), and the kernel maps them in whole read-around windows; an
// idle shim needs few of them. They are clean private file pages, so
// dropping them is safe (a later access maps them again from the page
// cache, which they stay in), and the Go heap is returned with
// FreeOSMemory.
type trimmer struct {
	mu    sync.Mutex
	timer *time.Timer
}

// noTrim disables trimming (CRICKET_SHIM_TRIM=0), to measure its effect.
var noTrim = os.Getenv("CRICKET_SHIM_TRIM") == "0"

// Poke schedules a trim trimDelay after the last call.
func (t *trimmer) Poke() {
	if noTrim {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer == nil {
		t.timer = time.AfterFunc(trimDelay, trimMemory)
		return
	}
	t.timer.Reset(trimDelay)
}

func trimMemory() {
	debug.FreeOSMemory()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	pagemap, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return
	}
	defer pagemap.Close()
	pageSize := uintptr(os.Getpagesize())
	for _, m := range readOnlyMappings(maps) {
		for _, r := range cleanRuns(pagemap, m, pageSize) {
			// Raw syscall: these addresses are not Go memory.
			_, _, _ = unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_DONTNEED)
		}
	}
}

// readOnlyMappings returns [start, end) of the private, non-writable
// mappings of regular files: text and read-only data of the binary and its
// shared libraries, never .data or .bss, anonymous memory, the kernel's
// [vdso] and friends, or device mappings.
func readOnlyMappings(maps []byte) [][2]uintptr {
	var out [][2]uintptr
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 6 || !strings.HasPrefix(f[5], "/") || strings.HasPrefix(f[5], "/dev/") ||
			len(f[1]) != 4 || f[1][1] == 'w' || f[1][3] != 'p' {
			continue
		}
		start, end, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		s, err1 := strconv.ParseUint(start, 16, 64)
		e, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || e <= s {
			continue
		}
		out = append(out, [2]uintptr{uintptr(s), uintptr(e)})
	}
	return out
}

// pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
const (
	pmPresent = 1 << 63
	pmFile    = 1 << 61
)

// cleanRuns splits mapping m into runs of pages that are safe to drop:
// pages that are not resident or are clean file pages. It leaves out the
// anonymous (copied-on-write) pages a read-only mapping can hold, such as a
// RELRO segment the dynamic loader relocated before making it read-only:
// dropping those would bring back the unrelocated file content.
func cleanRuns(pagemap *os.File, m [2]uintptr, pageSize uintptr) [][2]uintptr {
	n := int((m[1] - m[0]) / pageSize)
	buf := make([]byte, 8*n)
	if _, err := pagemap.ReadAt(buf, int64(m[0]/pageSize)*8); err != nil {
		return nil
	}
	var out [][2]uintptr
	runStart := -1
	for i := 0; i <= n; i++ {
		safe := false
		if i < n {
			e := binary.LittleEndian.Uint64(buf[8*i:])
			safe = e&pmPresent == 0 || e&pmFile != 0
		}
		switch {
		case safe && runStart < 0:
			runStart = i
		case !safe && runStart >= 0:
			out = append(out, [2]uintptr{m[0] + uintptr(runStart)*pageSize, m[0] + uintptr(i)*pageSize})
			runStart = -1
		}
	}
	return out
}
