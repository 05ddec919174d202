package mainthread

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/test/testutil"
)

// mainThreadMountNS is the mount namespace of the process's main thread,
// the one /proc/self describes.
func mainThreadMountNS(t *testing.T) string {
	t.Helper()
	ns, err := os.Readlink(fmt.Sprintf("/proc/self/task/%d/ns/mnt", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// TestMainThreadStaysInItsNamespace does what libcontainer's mount-source
// thread does, many times over: lock a goroutine to its thread, leave the
// process's mount namespace, and exit without unlocking. Without this
// package's init, one of them runs on the idle main thread now and then
// (the test's main goroutine is blocked in testing.M.Run), and the main
// thread stays wedged in the new namespace (seen as TestHandlersRunBusybox
// in pkg/runtime finding the container's rootfs in /proc/self/mountinfo).
func TestMainThreadStaysInItsNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	want := mainThreadMountNS(t)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("unshare(CLONE_FS|CLONE_NEWNS): %v", err)
	default:
	}
	if got := mainThreadMountNS(t); got != want {
		t.Fatalf("main thread's mount namespace is %s after goroutines left theirs, want %s", got, want)
	}
}
