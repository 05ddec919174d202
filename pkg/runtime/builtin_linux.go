package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	// The device-rule manager registers itself with the cgroup managers
	// through this import; without it containers with device rules fail.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	// nsenter's C constructor joins namespaces in "init" re-execs before
	// the Go runtime starts threads; it is a no-op in every other process.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// InitArg is os.Args[1] of the process libcontainer re-executes (through
// /proc/self/exe) to set up a container; the binary's entry point must call
// libcontainer.Init when it sees it.
const InitArg = "init"

// stopTimeout bounds how long a forced delete waits for a killed container.
const stopTimeout = 10 * time.Second

// builtin runs containers with runc's libcontainer inside the calling process.
type builtin struct {
	name    string
	root    string
	reaper  *Reaper
	systemd bool
	// unified: the host has cgroup v2 alone.
	unified bool

	mu         sync.Mutex
	containers map[string]*builtinContainer
}

type builtinContainer struct {
	c      *libcontainer.Container
	spec   *specs.Spec
	bundle string
}

func newBuiltin(name string, opts Options) (*builtin, error) {
	if opts.Reaper == nil {
		return nil, fmt.Errorf("builtin runtime %q: no reaper: %w", name, errdefs.ErrInvalidArgument)
	}
	return &builtin{
		name: name, root: opts.Root, reaper: opts.Reaper, systemd: opts.SystemdCgroup,
		unified: unifiedHost(), containers: map[string]*builtinContainer{},
	}, nil
}

func (b *builtin) Name() string { return b.name }

func (b *builtin) Create(_ context.Context, id, bundle string, stdio Stdio) (int, error) {
	spec, err := LoadSpec(bundle)
	if err != nil {
		return 0, err
	}
	if spec.Process == nil {
		return 0, fmt.Errorf("container %s: spec has no process: %w", id, errdefs.ErrInvalidArgument)
	}
	if spec.Process.Terminal {
		if err := needConsole(id, stdio); err != nil {
			return 0, err
		}
	}
	absolutize(spec, bundle)
	// Converting a spec that joins a user namespace by path can spawn a
	// child to read its mappings and wait for it: hold the reaper already.
	release := b.reaper.Hold()
	defer release()
	cfg, err := specconv.CreateLibcontainerConfig(b.createOpts(id, spec))
	if err != nil {
		return 0, fmt.Errorf("convert OCI spec of container %s: %w: %w", id, err, errdefs.ErrInvalidArgument)
	}
	proc, err := newProcess(spec.Process, stdio)
	if err != nil {
		return 0, fmt.Errorf("process of container %s: %w", id, err)
	}
	proc.Init = true
	console, err := attachConsole(proc, spec.Process.Terminal)
	if err != nil {
		return 0, err
	}
	defer console.close()

	c, err := libcontainer.Create(b.root, id, cfg)
	if err != nil {
		if errors.Is(err, libcontainer.ErrExist) {
			return 0, fmt.Errorf("container %s: %w", id, errdefs.ErrAlreadyExists)
		}
		return 0, fmt.Errorf("create container %s: %w", id, err)
	}
	if err := c.Start(proc); err != nil {
		_ = c.Destroy()
		return 0, fmt.Errorf("start init of container %s: %w", id, err)
	}
	pid, err := proc.Pid()
	if err == nil {
		err = console.deliver(stdio)
	}
	if err != nil {
		_ = c.Signal(unix.SIGKILL)
		_ = c.Destroy()
		return 0, fmt.Errorf("container %s: %w", id, err)
	}
	b.mu.Lock()
	b.containers[id] = &builtinContainer{c: c, spec: spec, bundle: bundle}
	b.mu.Unlock()
	return pid, nil
}

func (b *builtin) createOpts(id string, spec *specs.Spec) *specconv.CreateOpts {
	systemd := b.systemd
	if spec.Linux != nil && isSystemdCgroupsPath(spec.Linux.CgroupsPath) {
		systemd = true
	}
	return &specconv.CreateOpts{CgroupName: id, UseSystemdCgroup: systemd, Spec: spec}
}

// isSystemdCgroupsPath recognises "slice:prefix:name".
func isSystemdCgroupsPath(p string) bool {
	return p != "" && !strings.HasPrefix(p, "/") && strings.Count(p, ":") == 2
}

// absolutize resolves bundle-relative paths. libcontainer resolves them
// against the working directory, which runc sets to the bundle but a shim
// serving many containers cannot.
func absolutize(spec *specs.Spec, bundle string) {
	if spec.Root != nil && !filepath.IsAbs(spec.Root.Path) {
		spec.Root.Path = filepath.Join(bundle, spec.Root.Path)
	}
	for i, m := range spec.Mounts {
		if m.Source != "" && !filepath.IsAbs(m.Source) && isBind(m) {
			spec.Mounts[i].Source = filepath.Join(bundle, m.Source)
		}
	}
}

func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

func (b *builtin) get(id string) (*builtinContainer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bc, ok := b.containers[id]; ok {
		return bc, nil
	}
	// A container created by an earlier incarnation of this process.
	c, err := libcontainer.Load(b.root, id)
	if err != nil {
		if errors.Is(err, libcontainer.ErrNotExist) {
			return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("load container %s: %w", id, err)
	}
	bc := &builtinContainer{c: c}
	b.containers[id] = bc
	return bc, nil
}

func (b *builtin) Start(_ context.Context, id string) error {
	bc, err := b.get(id)
	if err != nil {
		return err
	}
	release := b.reaper.Hold()
	defer release()
	if err := bc.c.Exec(); err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	return nil
}

func (b *builtin) Kill(_ context.Context, id string, sig syscall.Signal, all bool) error {
	bc, err := b.get(id)
	if err != nil {
		return err
	}
	if all {
		err = signalPids(bc.c, sig)
	} else {
		err = bc.c.Signal(sig)
	}
	if errors.Is(err, libcontainer.ErrNotRunning) {
		return fmt.Errorf("signal container %s: %w", id, errdefs.ErrFailedPrecondition)
	}
	if err != nil {
		return fmt.Errorf("signal container %s with %d: %w", id, sig, err)
	}
	return nil
}

// signalPids signals every process of the container's cgroup; the ones that
// vanished meanwhile are no error.
func signalPids(c *libcontainer.Container, sig syscall.Signal) error {
	if sig == unix.SIGKILL {
		// libcontainer kills a container without a pid namespace of its
		// own process by process in its frozen cgroup (even once the init
		// has exited), and one with its own namespace through its init,
		// whose death takes the namespace down; it thaws a paused one.
		// Killing pids listed beforehand could hit recycled ones.
		if err := c.Signal(sig); err == nil {
			return nil
		}
	}
	pids, err := c.Processes()
	if err != nil || len(pids) == 0 {
		// No cgroup to enumerate: the init is all there is to signal.
		return c.Signal(sig)
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("kill(%d, %d): %w", pid, sig, err)
		}
	}
	return nil
}

func (b *builtin) Delete(ctx context.Context, id string, force bool) error {
	bc, err := b.get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	st, err := bc.c.Status()
	if err != nil {
		return fmt.Errorf("status of container %s: %w", id, err)
	}
	if st != libcontainer.Stopped {
		if !force {
			return fmt.Errorf("delete container %s: it is %s: %w", id, st, errdefs.ErrFailedPrecondition)
		}
		if err := b.killAndWait(ctx, bc.c); err != nil {
			return fmt.Errorf("delete container %s: %w", id, err)
		}
	}
	release := b.reaper.Hold()
	err = bc.c.Destroy()
	release()
	if err != nil {
		return fmt.Errorf("destroy container %s: %w", id, err)
	}
	b.mu.Lock()
	delete(b.containers, id)
	b.mu.Unlock()
	return nil
}

func (b *builtin) killAndWait(ctx context.Context, c *libcontainer.Container) error {
	_ = c.Signal(unix.SIGKILL)
	_ = signalPids(c, unix.SIGKILL)
	deadline := time.Now().Add(stopTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if st, err := c.Status(); err == nil && st == libcontainer.Stopped {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("still running %s after SIGKILL: %w", stopTimeout, errdefs.ErrUnavailable)
}

func (b *builtin) State(_ context.Context, id string) (*State, error) {
	bc, err := b.get(id)
	if err != nil {
		return nil, err
	}
	st, err := bc.c.Status()
	if err != nil {
		return nil, fmt.Errorf("status of container %s: %w", id, err)
	}
	s, err := bc.c.State()
	if err != nil {
		return nil, fmt.Errorf("state of container %s: %w", id, err)
	}
	out := &State{ID: id, Bundle: bc.bundle, Status: libcontainerStatus(st)}
	if st != libcontainer.Stopped {
		out.Pid = s.InitProcessPid
	}
	return out, nil
}

func libcontainerStatus(s libcontainer.Status) Status {
	switch s {
	case libcontainer.Created:
		return StatusCreated
	case libcontainer.Running:
		return StatusRunning
	case libcontainer.Paused:
		return StatusPaused
	}
	return StatusStopped
}

func (b *builtin) Exec(_ context.Context, id string, process *specs.Process, stdio Stdio) (int, error) {
	bc, err := b.get(id)
	if err != nil {
		return 0, err
	}
	if process == nil || len(process.Args) == 0 {
		return 0, fmt.Errorf("exec in container %s: no command: %w", id, errdefs.ErrInvalidArgument)
	}
	if process.Terminal {
		if err := needConsole(id, stdio); err != nil {
			return 0, err
		}
	}
	proc, err := newProcess(process, stdio)
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", id, err)
	}
	console, err := attachConsole(proc, process.Terminal)
	if err != nil {
		return 0, err
	}
	defer console.close()
	release := b.reaper.Hold()
	defer release()
	if err := bc.c.Run(proc); err != nil {
		return 0, fmt.Errorf("exec %q in container %s: %w", process.Args[0], id, err)
	}
	pid, err := proc.Pid()
	if err == nil {
		err = console.deliver(stdio)
	}
	if err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		return 0, fmt.Errorf("exec in container %s: %w", id, err)
	}
	return pid, nil
}

func (b *builtin) Pids(_ context.Context, id string) ([]int, error) {
	bc, err := b.get(id)
	if err != nil {
		return nil, err
	}
	pids, err := bc.c.Processes()
	if err != nil {
		return nil, fmt.Errorf("pids of container %s: %w", id, err)
	}
	return pids, nil
}

func (b *builtin) Update(_ context.Context, id string, resources *specs.LinuxResources) error {
	bc, err := b.get(id)
	if err != nil {
		return err
	}
	if bc.spec == nil {
		return fmt.Errorf("update container %s: spec unknown after restart: %w", id, errdefs.ErrFailedPrecondition)
	}
	spec := *bc.spec
	linux := *spec.Linux
	linux.Resources = resources
	spec.Linux = &linux
	cg, err := specconv.CreateCgroupConfig(b.createOpts(id, &spec), nil)
	if err != nil {
		return fmt.Errorf("convert resources of container %s: %w: %w", id, err, errdefs.ErrInvalidArgument)
	}
	cfg := bc.c.Config()
	cg.Resources.Devices = cfg.Cgroups.Resources.Devices
	cg.Resources.SkipDevices = cfg.Cgroups.Resources.SkipDevices
	cfg.Cgroups.Resources = cg.Resources
	if err := bc.c.Set(cfg); err != nil {
		return fmt.Errorf("update resources of container %s: %w", id, err)
	}
	return nil
}

// builtinConsole is the socket pair on which libcontainer's init sends the
// pty master of a terminal process; nil for other processes.
type builtinConsole struct {
	parent, child *os.File
}

func attachConsole(proc *libcontainer.Process, terminal bool) (*builtinConsole, error) {
	if !terminal {
		return nil, nil
	}
	parent, child, err := socketPair("console")
	if err != nil {
		return nil, err
	}
	proc.ConsoleSocket = child
	proc.Stdin, proc.Stdout, proc.Stderr = nil, nil, nil
	return &builtinConsole{parent: parent, child: child}, nil
}

// deliver receives the master once the process started.
func (c *builtinConsole) deliver(stdio Stdio) error {
	if c == nil {
		return nil
	}
	_ = c.child.Close()
	master, err := recvFD(c.parent)
	if err != nil {
		return fmt.Errorf("receive pty master: %w", err)
	}
	deliverConsole(stdio, master)
	return nil
}

func (c *builtinConsole) close() {
	if c != nil {
		_ = c.parent.Close()
		_ = c.child.Close()
	}
}

// newProcess converts an OCI process to libcontainer's, as runc does.
func newProcess(p *specs.Process, stdio Stdio) (*libcontainer.Process, error) {
	lp := &libcontainer.Process{
		Args:            p.Args,
		Env:             p.Env,
		UID:             int(p.User.UID),
		GID:             int(p.User.GID),
		Cwd:             p.Cwd,
		Label:           p.SelinuxLabel,
		NoNewPrivileges: &p.NoNewPrivileges,
		AppArmorProfile: p.ApparmorProfile,
		Scheduler:       p.Scheduler,
		IOPriority:      p.IOPriority,
	}
	// Assign only non-nil files: a typed nil in the io interfaces would make
	// exec.Cmd copy from a nil file instead of using /dev/null.
	if stdio.Stdin != nil {
		lp.Stdin = stdio.Stdin
	}
	if stdio.Stdout != nil {
		lp.Stdout = stdio.Stdout
	}
	if stdio.Stderr != nil {
		lp.Stderr = stdio.Stderr
	}
	if c := p.Capabilities; c != nil {
		lp.Capabilities = &configs.Capabilities{
			Bounding: c.Bounding, Effective: c.Effective, Inheritable: c.Inheritable,
			Permitted: c.Permitted, Ambient: c.Ambient,
		}
	}
	for _, g := range p.User.AdditionalGids {
		lp.AdditionalGroups = append(lp.AdditionalGroups, int(g))
	}
	for _, rl := range p.Rlimits {
		t, ok := rlimits[rl.Type]
		if !ok {
			return nil, fmt.Errorf("rlimit %q: %w", rl.Type, errdefs.ErrInvalidArgument)
		}
		lp.Rlimits = append(lp.Rlimits, configs.Rlimit{Type: t, Hard: rl.Hard, Soft: rl.Soft})
	}
	aff, err := configs.ConvertCPUAffinity(p.ExecCPUAffinity)
	if err != nil {
		return nil, fmt.Errorf("cpu affinity: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	lp.CPUAffinity = aff
	return lp, nil
}

var rlimits = map[string]int{
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
}

// Checkpoint dumps the container with libcontainer's CRIU driver (CRIU's
// swrk mode, a child this process waits for: the reaper is held).
func (b *builtin) Checkpoint(_ context.Context, id string, opts CheckpointOptions) error {
	if opts.ImagePath == "" {
		return fmt.Errorf("checkpoint of container %s: no image path: %w", id, errdefs.ErrInvalidArgument)
	}
	bc, err := b.get(id)
	if err != nil {
		return err
	}
	release := b.reaper.Hold()
	defer release()
	err = bc.c.Checkpoint(&libcontainer.CriuOpts{
		ImagesDirectory: opts.ImagePath,
		WorkDirectory:   opts.WorkPath,
		LeaveRunning:    opts.LeaveRunning,
		TcpEstablished:  opts.TCPEstablished,
		FileLocks:       true,
	})
	if err != nil {
		return fmt.Errorf("checkpoint container %s: %w", id, err)
	}
	if opts.LeaveRunning {
		return dropCheckpointMarker(b.root, id)
	}
	return nil
}

func (b *builtin) Pause(_ context.Context, id string) error {
	bc, err := b.get(id)
	if err != nil {
		return err
	}
	if err := bc.c.Pause(); err != nil {
		return fmt.Errorf("pause container %s: %w", id, err)
	}
	return nil
}

func (b *builtin) Resume(_ context.Context, id string) error {
	bc, err := b.get(id)
	if err != nil {
		return err
	}
	if err := bc.c.Resume(); err != nil {
		return fmt.Errorf("resume container %s: %w", id, err)
	}
	return nil
}

// Restore creates the container from its bundle like Create and has
// libcontainer's CRIU driver restore the checkpointed process tree into it
// (CRIU's swrk mode, restoring the tree as a sibling of CRIU: a child of
// this process, which holds the reaper meanwhile).
func (b *builtin) Restore(_ context.Context, id, bundle string, stdio Stdio, opts RestoreOptions) (int, error) {
	spec, err := restorableSpec(id, bundle, opts)
	if err != nil {
		return 0, err
	}
	absolutize(spec, bundle)
	release := b.reaper.Hold()
	defer release()
	cfg, err := specconv.CreateLibcontainerConfig(b.createOpts(id, spec))
	if err != nil {
		return 0, fmt.Errorf("convert OCI spec of container %s: %w: %w", id, err, errdefs.ErrInvalidArgument)
	}
	proc, err := newProcess(spec.Process, stdio)
	if err != nil {
		return 0, fmt.Errorf("process of container %s: %w", id, err)
	}
	proc.Init = true
	c, err := libcontainer.Create(b.root, id, cfg)
	if err != nil {
		if errors.Is(err, libcontainer.ErrExist) {
			return 0, fmt.Errorf("container %s: %w", id, errdefs.ErrAlreadyExists)
		}
		return 0, fmt.Errorf("create container %s: %w", id, err)
	}
	err = c.Restore(proc, &libcontainer.CriuOpts{
		ImagesDirectory: opts.ImagePath,
		WorkDirectory:   opts.WorkPath,
		TcpEstablished:  opts.TCPEstablished,
		FileLocks:       true,
	})
	if err != nil {
		_ = c.Destroy()
		return 0, fmt.Errorf("restore container %s: %w", id, err)
	}
	pid, err := proc.Pid()
	if err == nil {
		err = b.checkRestoredCgroup(spec, pid)
	}
	if err == nil {
		c, err = reloadRestored(c, b.root, id)
	}
	if err != nil {
		_ = c.Signal(unix.SIGKILL)
		if pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
		_ = c.Destroy()
		return 0, fmt.Errorf("container %s: %w", id, err)
	}
	b.mu.Lock()
	b.containers[id] = &builtinContainer{c: c, spec: spec, bundle: bundle}
	b.mu.Unlock()
	return pid, nil
}

// reloadRestored loads the restored container afresh from its state dir.
// The Container that libcontainer's Restore leaves behind never learns its
// init's start time (Restore writes it to the state file only), so it
// takes the restored init for gone: Signal answers ErrNotRunning and the
// container could not be stopped (seen in the VM, TestCheckpointRestore
// handler=: StopContainer "failed precondition"). runc's CLI never meets
// this, loading the container from its state at every command.
func reloadRestored(c *libcontainer.Container, root, id string) (*libcontainer.Container, error) {
	loaded, err := libcontainer.Load(root, id)
	if err != nil {
		return c, fmt.Errorf("load the restored container: %w", err)
	}
	if st, err := loaded.Status(); err != nil || st != libcontainer.Running {
		return c, fmt.Errorf("the restored container is %v (%v), not running", st, err)
	}
	return loaded, nil
}

// checkRestoredCgroup: on cgroup v2, the restored init must be in the
// container's cgroup, or nothing could stop it (restore_cgroup.go).
// libcontainer tells CRIU the cgroup; this holds it to that.
func (b *builtin) checkRestoredCgroup(spec *specs.Spec, pid int) error {
	if !b.unified {
		return nil
	}
	systemd := b.systemd || (spec.Linux != nil && isSystemdCgroupsPath(spec.Linux.CgroupsPath))
	cgroup, ok := specCgroupV2(spec, systemd)
	if !ok {
		return nil
	}
	return checkRestoredCgroup(pidCgroupV2, pid, cgroup)
}
