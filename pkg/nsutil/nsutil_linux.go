package nsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Kind is a namespace type as named under /proc/<pid>/ns.
type Kind string

// The namespace kinds a pod sandbox pins.
const (
	Net Kind = "net"
	IPC Kind = "ipc"
	UTS Kind = "uts"
	PID Kind = "pid"
	// User is a pod's user namespace; it is made by a child process
	// (a multi-threaded process cannot unshare one), never by Create.
	User Kind = "user"
)

var cloneFlag = map[Kind]int{
	Net: unix.CLONE_NEWNET,
	IPC: unix.CLONE_NEWIPC,
	UTS: unix.CLONE_NEWUTS,
}

// Options say which namespaces to create and how to set them up.
type Options struct {
	// Kinds to create; any of Net, IPC, UTS. A pid namespace needs a
	// process to hold it (PinPod).
	Kinds []Kind
	// Hostname is set in the new UTS namespace.
	Hostname string
	// LoopbackUp brings lo up in the new network namespace.
	LoopbackUp bool
}

// Pinned maps each created kind to its pinned file.
type Pinned map[Kind]string

// Create makes new namespaces of opts.Kinds and pins each at dir/<kind>. On
// error nothing stays pinned. The daemon's own threads never change
// namespace.
func Create(dir string, opts Options) (_ Pinned, retErr error) {
	flags := 0
	for _, k := range opts.Kinds {
		f, ok := cloneFlag[k]
		if !ok {
			return nil, fmt.Errorf("create namespace %q: unsupported kind", k)
		}
		flags |= f
	}
	if opts.Hostname != "" && flags&unix.CLONE_NEWUTS == 0 {
		return nil, errors.New("create namespaces: hostname needs a new uts namespace")
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("create namespace dir %s: %w", dir, err)
	}
	pinned := Pinned{}
	var created []string
	defer func() {
		if retErr != nil {
			for _, p := range created {
				_ = Unpin(p)
			}
		}
	}()
	for _, k := range opts.Kinds {
		p := filepath.Join(dir, string(k))
		if err := createTarget(p); err != nil {
			return nil, err
		}
		created = append(created, p)
		pinned[k] = p
	}
	if err := onThrowawayThread(func() error { return unshareAndPin(flags, opts, pinned) }); err != nil {
		return nil, err
	}
	return pinned, nil
}

// createTarget creates the empty file a namespace is bind-mounted on. An
// existing file is an error: it may be another pod's pinned namespace.
func createTarget(p string) error {
	f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create namespace file %s: %w", p, err)
	}
	return f.Close()
}

// unshareAndPin runs on a thread that will die: it leaves the daemon's
// namespaces, sets the new ones up and pins them.
func unshareAndPin(flags int, opts Options, pinned Pinned) error {
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("unshare(%#x): %w", flags, err)
	}
	if opts.Hostname != "" {
		if err := unix.Sethostname([]byte(opts.Hostname)); err != nil {
			return fmt.Errorf("sethostname(%q): %w", opts.Hostname, err)
		}
	}
	if opts.LoopbackUp && flags&unix.CLONE_NEWNET != 0 {
		if err := LoopbackUp(); err != nil {
			return err
		}
	}
	for k, p := range pinned {
		if err := bindThreadNS(k, p); err != nil {
			return err
		}
	}
	return nil
}

func bindThreadNS(k Kind, target string) error {
	src := fmt.Sprintf("/proc/thread-self/ns/%s", k)
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mount(%s, %s, MS_BIND): %w", src, target, err)
	}
	return nil
}

// onThrowawayThread runs fn on a new goroutine locked to its OS thread and
// waits for it. The goroutine exits still locked, which makes the runtime
// terminate the thread: whatever fn did to the thread's namespaces dies
// with it.
//
// The main thread is the exception: the runtime cannot end it and wedges
// it instead, and /proc/self/ns/* shows the main thread's namespaces, so a
// pod namespace there would leak into everything that reads them. A
// goroutine that lands on the main thread keeps it locked (so that it runs
// nothing else) while a second goroutine does the work elsewhere.
func onThrowawayThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			defer runtime.UnlockOSThread()
			errc <- onThrowawayThread(fn)
			return
		}
		// No UnlockOSThread, on purpose.
		errc <- fn()
	}()
	return <-errc
}

// Do runs fn inside the namespace pinned at nsPath (any kind setns accepts
// except mount and user, which a multi-threaded process cannot enter) on a
// throwaway thread. fn must not start goroutines that expect to be in the
// namespace: they run on other threads.
func Do(nsPath string, fn func() error) error {
	return onThrowawayThread(func() error {
		f, err := os.Open(nsPath)
		if err != nil {
			return fmt.Errorf("open namespace %s: %w", nsPath, err)
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), 0); err != nil {
			return fmt.Errorf("setns(%s): %w", nsPath, err)
		}
		return fn()
	})
}

// LoopbackUp sets IFF_UP on lo in the calling thread's network namespace.
// Call it from Do or from a throwaway thread.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket(AF_INET, SOCK_DGRAM): %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("ifreq lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("ioctl(lo, SIOCGIFFLAGS): %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("ioctl(lo, SIOCSIFFLAGS): %w", err)
	}
	return nil
}

// nsfsMagic is NSFS_MAGIC, the filesystem of namespace files.
const nsfsMagic = 0x6e736673

// IsPinned reports whether path is a mounted namespace file.
func IsPinned(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return int64(st.Type) == nsfsMagic
}

// Unpin unmounts a pinned namespace file (lazily, in case something still
// holds it) and removes the file. A missing or unmounted file is success.
func Unpin(path string) error {
	// A file may carry stacked mounts; peel them all, boundedly.
	for i := 0; i < 16 && IsPinned(path); i++ {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("umount(%s, MNT_DETACH): %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove namespace file %s: %w", path, err)
	}
	return nil
}

// UnpinAll unpins every namespace file in dir and removes dir if empty.
func UnpinAll(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read namespace dir %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, Unpin(filepath.Join(dir, e.Name())))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove namespace dir %s: %w", dir, err)
	}
	return nil
}

// PinFromPID bind-mounts /proc/<pid>/ns/<kind> onto target (created if
// missing). This pins a namespace owned by a live process, such as the pid
// namespace of a pod's init.
func PinFromPID(pid int, kind Kind, target string) error {
	if err := createTarget(target); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	src := fmt.Sprintf("/proc/%d/ns/%s", pid, kind)
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mount(%s, %s, MS_BIND): %w", src, target, err)
	}
	return nil
}
