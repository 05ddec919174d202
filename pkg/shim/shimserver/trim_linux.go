package shimserver

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

// An idle shim still runs a little: the Go runtime's periodic GC, the
// reaper's poll. Each touches code and maps its pages again, a whole
// read-around window at a time, so a trimmed shim slowly grows back. Every
// trimCheckPeriod it compares its RSS with what it was after the last trim
// and trims again once trimRegrowth came back. (Every API call, the
// daemon's long polls included, schedules a trim anyway.)
const (
	trimCheckPeriod = 30 * time.Second
	trimRegrowth    = 256 << 10
)

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
	// poked says a call asked for a trim since the timer last fired.
	poked bool
	// trimmed is the RSS an idle check found after the last trim, in
	// bytes; 0 until the first check.
	trimmed int64
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
	t.poked = true
	if t.timer == nil {
		t.timer = time.AfterFunc(trimDelay, t.fire)
		return
	}
	t.timer.Reset(trimDelay)
}

// fire trims after a Poke, or when the RSS grew back by trimRegrowth, and
// checks again trimCheckPeriod later.
func (t *trimmer) fire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.poked:
		t.trim()
	case t.trimmed == 0:
		// The first check after a trim sets the baseline: measuring right
		// after the trim would map the pages it just dropped.
		t.trimmed = selfRSS()
	case selfRSS() > t.trimmed+trimRegrowth:
		t.trim()
	}
	t.poked = false
	t.timer.Reset(trimCheckPeriod)
}

func (t *trimmer) trim() {
	trimMemory()
	t.trimmed = 0
}

// selfRSS returns the process's resident set size in bytes, 0 when
// unknown. It reads /proc/self/statm with bare system calls into a stack
// buffer: an idle shim runs it every trimCheckPeriod, and every page of
// code it runs stays mapped until the next trim.
func selfRSS() int64 {
	fd, err := unix.Open("/proc/self/statm", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	var buf [128]byte
	n, err := unix.Read(fd, buf[:])
	_ = unix.Close(fd)
	if err != nil || n <= 0 {
		return 0
	}
	// "size resident shared ...": the second field, in pages.
	i := 0
	for i < n && buf[i] != ' ' {
		i++
	}
	var pages int64
	for i++; i < n && buf[i] >= '0' && buf[i] <= '9'; i++ {
		pages = pages*10 + int64(buf[i]-'0')
	}
	return pages * int64(os.Getpagesize())
}

func trimMemory() {
	debug.FreeOSMemory()
	mallocTrim()
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
// [vdso] and friends, or device mappings. Paths with spaces are skipped.
func readOnlyMappings(maps []byte) [][2]uintptr {
	var out [][2]uintptr
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// A file replaced since it was mapped (an upgrade of the shim)
		// shows as "PATH (deleted)"; its pages stay as droppable.
		if len(f) == 7 && f[6] == "(deleted)" {
			f = f[:6]
		}
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
