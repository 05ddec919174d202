package podinit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/selinux/go-selinux"
	"golang.org/x/sys/unix"
)

func init() {
	if len(os.Args) > 1 && os.Args[1] == Arg {
		os.Exit(Main())
	}
}

// Main is the pod init in Go: it reaps every child the kernel hands it and
// exits on SIGTERM or SIGINT.
func Main() int {
	if err := unshareIPC(); err != nil {
		fmt.Fprintln(os.Stderr, "pod init:", err)
		return 1
	}
	// A tag is the pod's namespace dir: gone already, the pod was torn
	// down while this init was on its way (its starter was killed).
	if len(os.Args) > 2 {
		if _, err := os.Stat(os.Args[2]); errors.Is(err, os.ErrNotExist) {
			return 0
		}
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT)
	for sig := range sigs {
		if sig != unix.SIGCHLD {
			return 0
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
	return 0
}

// unshareIPC does what IPCFDEnv asks, if set: as the root of the user
// namespace (Start made it so before the exec), make a new IPC namespace,
// say so on the fd. Main runs on the main thread (package init), whose IPC
// namespace /proc/PID/ns/ipc shows.
func unshareIPC() error {
	v := os.Getenv(IPCFDEnv)
	if v == "" {
		return nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", IPCFDEnv, v, err)
	}
	f := os.NewFile(uintptr(fd), "ipc-ready")
	defer f.Close()
	if err := unix.Unshare(unix.CLONE_NEWIPC); err != nil {
		return fmt.Errorf("unshare IPC namespace: %w", err)
	}
	_, err = f.Write([]byte{1})
	return err
}

// Options say how to start a pod init.
type Options struct {
	// Binary is executed with Arg; empty means this executable.
	Binary string
	// Cloneflags are the namespaces it is started in (CLONE_NEWPID,
	// CLONE_NEWUSER...).
	Cloneflags uintptr
	// UIDMappings and GIDMappings map a new user namespace (CLONE_NEWUSER).
	UIDMappings, GIDMappings []specs.LinuxIDMapping
	// DieWithStarter kills the init (SIGKILL) when the thread that started
	// it ends, with the process or otherwise: for an init needed only
	// while its starter works, which no record names for a restarted
	// daemon to find. The caller keeps its OS thread locked until it has
	// no more use for the init.
	DieWithStarter bool
	// Tag, when set, is the pod's namespace dir, passed as the init's
	// second argument: Kill finds by it an init whose pid was never
	// recorded (MarkStarting), and an init that finds no such dir when it
	// starts (the pod was torn down while it was on its way) exits.
	Tag string
	// Label, when set, is the SELinux process label the init runs at (the
	// pod's). Binary must then be a file the policy lets that label be
	// entered by (container_file_t for container_t).
	Label string
	// Exe, when set, is Binary opened: the init is executed through it
	// (/proc/self/fd), so that the directories on Binary's path need not
	// be searchable by the init's user (the root of a pod user namespace
	// is an unprivileged host uid, and the daemon's root dir is 0700).
	Exe *os.File
	// UnshareIPC makes the init, started in a new user namespace
	// (CLONE_NEWUSER, without CLONE_NEWIPC), become that namespace's root
	// and only then create its IPC namespace; Start returns once it has.
	// The IPC namespace's mqueue filesystem then belongs to the pod's
	// root: made in the same clone as the user namespace, it belongs to
	// a host uid the namespace does not map, and runc cannot label the
	// container's /dev/mqueue (setxattr: EPERM; runc issue 4466).
	UnshareIPC bool
}

// IPCFDEnv names the pod init's environment variable that asks it to
// unshare its IPC namespace (Options.UnshareIPC) and to close the fd it
// gives once done.
const IPCFDEnv = "CRICKET_PODINIT_IPC_FD"

// ipcTimeout bounds the wait for the init's IPC namespace.
const ipcTimeout = 30 * time.Second

// setExecLabel sets the SELinux label the calling thread's next execve
// runs at; tests replace it.
var setExecLabel = selinux.SetExecLabel

// Start starts a pod init in its own session (the daemon's signals and exit
// leave it alone) and returns its pid; it is reaped when it exits.
func Start(o Options) (int, error) {
	bin := o.Binary
	if bin == "" {
		bin = "/proc/self/exe"
	}
	args := []string{Arg}
	if o.Tag != "" {
		args = append(args, o.Tag)
	}
	if o.Exe != nil {
		// The first of ExtraFiles is fd 3 in the child.
		bin = "/proc/self/fd/3"
	}
	cmd := exec.Command(bin, args...)
	if o.Exe != nil {
		cmd.ExtraFiles = []*os.File{o.Exe}
	}
	cmd.Dir = "/"
	cmd.Env = []string{"GOMAXPROCS=1", "GOGC=50"}
	var ready *os.File
	if o.UnshareIPC {
		r, w, err := os.Pipe()
		if err != nil {
			return 0, fmt.Errorf("pod init IPC pipe: %w", err)
		}
		defer r.Close()
		defer w.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, w)
		cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", IPCFDEnv, 2+len(cmd.ExtraFiles)))
		ready = r
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Cloneflags: o.Cloneflags}
	if o.DieWithStarter {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	userns := o.UIDMappings != nil
	if userns {
		cmd.SysProcAttr.UidMappings = sysMappings(o.UIDMappings)
		cmd.SysProcAttr.GidMappings = sysMappings(o.GIDMappings)
		if o.UnshareIPC {
			// The namespace's root from before the exec, which keeps
			// its capabilities there only so.
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
		}
		// "allow": a "deny" would stick to the namespace, and its
		// containers need setgroups for their supplemental groups.
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
	}
	if err := start(cmd, o.Label); err != nil {
		if userns && errors.Is(err, os.ErrPermission) {
			return 0, fmt.Errorf("start pod init in a user namespace: %s must be executable by the pod's root (host uid %d): %w", bin, o.UIDMappings[0].HostID, err)
		}
		return 0, fmt.Errorf("start pod init: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	if ready != nil {
		if err := waitIPC(ready, cmd.ExtraFiles[len(cmd.ExtraFiles)-1]); err != nil {
			_ = cmd.Process.Kill()
			return 0, err
		}
	}
	return cmd.Process.Pid, nil
}

// waitIPC waits for the init to say it has its IPC namespace: one byte on
// r (w is this process's copy of the write end, closed first so that an
// init that dies gives EOF).
func waitIPC(r, w *os.File) error {
	_ = w.Close()
	_ = r.SetReadDeadline(time.Now().Add(ipcTimeout))
	b := make([]byte, 1)
	if n, err := r.Read(b); n != 1 {
		return fmt.Errorf("pod init did not make its IPC namespace: %w", err)
	}
	return nil
}

// start starts cmd at the SELinux label l, if any: the exec label is a
// property of the thread, so it is set on this goroutine's locked thread,
// which forks the child, and cleared afterwards. A thread whose label
// could not be cleared stays locked, so that no other goroutine runs on
// it: it ends with this goroutine.
func start(cmd *exec.Cmd, l string) error {
	if l == "" {
		return cmd.Start()
	}
	runtime.LockOSThread()
	if err := setExecLabel(l); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("set SELinux exec label %q: %w", l, err)
	}
	err := cmd.Start()
	if rerr := setExecLabel(""); rerr != nil {
		if err == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		return fmt.Errorf("clear SELinux exec label: %w", rerr)
	}
	runtime.UnlockOSThread()
	return err
}

func sysMappings(in []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(in))
	for i, m := range in {
		out[i] = syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)}
	}
	return out
}

// startingRecord is what dir/PIDFile holds between MarkStarting and Record.
const startingRecord = "starting"

// MarkStarting writes dir/PIDFile before Start, naming no pid yet: a
// daemon killed between Start and Record leaves it, and Kill then finds
// the init by its Tag, dir.
func MarkStarting(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, PIDFile), []byte(startingRecord), 0o600); err != nil {
		return fmt.Errorf("record pod init start: %w", err)
	}
	return nil
}

// Record writes pid to dir/PIDFile, for Kill.
func Record(dir string, pid int) error {
	if err := os.WriteFile(filepath.Join(dir, PIDFile), []byte(strconv.Itoa(pid)), 0o600); err != nil {
		return fmt.Errorf("record pod init pid: %w", err)
	}
	return nil
}

// Kill kills the pod init recorded in dir/PIDFile, after checking that the
// pid still is one (pids are reused). Its pid namespace, and every process
// left in it, dies with it. No record, or a pod init already gone, is no
// error.
func Kill(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, PIDFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read pod init pid: %w", err)
	}
	if strings.TrimSpace(string(data)) == startingRecord {
		return killTagged(dir)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), Arg) {
		return nil // gone, or the pid now belongs to someone else
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill pod init %d: %w", pid, err)
	}
	return nil
}

// killTagged kills every pod init started with Tag tag: the record of its
// pid was never written.
func killTagged(tag string) error {
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var errs []error
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(args) != 3 || args[1] != Arg || args[2] != tag {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if err != nil {
			continue
		}
		if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("kill pod init %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}
