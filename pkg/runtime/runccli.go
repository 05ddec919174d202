package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// compatOCIVersion is the ociVersion older runtimes (crun < 1.9) accept.
const compatOCIVersion = "1.0.2"

// runcCLI drives a binary with runc's command line (runc, crun, runsc).
type runcCLI struct {
	name    string
	path    string
	root    string
	reaper  *Reaper
	systemd bool
	seq     atomic.Uint64
	// oldOCIVersion: the binary needs ociVersion 1.0.x (see oldCrun).
	oldOCIVersion bool
	// unified: the host has cgroup v2 alone (see restore_cgroup.go).
	unified bool
	// tellCRIUCgroup: the binary is runc before 1.2, which does not tell
	// CRIU the cgroup of a restored container on cgroup v2 (oldRunc).
	tellCRIUCgroup bool
	// pidCgroup reads the cgroup v2 path of a process and kill signals
	// one; tests fake them.
	pidCgroup func(pid int) (string, error)
	kill      func(pid int, sig syscall.Signal) error
}

func newRuncCLI(name, path string, opts Options) (*runcCLI, error) {
	if opts.Reaper == nil {
		return nil, fmt.Errorf("runtime %q: no reaper: %w", name, errdefs.ErrInvalidArgument)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("runtime %q: binary %s: %w: %w", name, path, err, errdefs.ErrNotFound)
	}
	r := &runcCLI{
		name: name, path: path, root: opts.Root, reaper: opts.Reaper, systemd: opts.SystemdCgroup,
		unified: unifiedHost(), pidCgroup: pidCgroupV2, kill: syscall.Kill,
	}
	if out, err := r.run(context.Background(), invocation{args: []string{"--version"}}); err == nil {
		r.oldOCIVersion = oldCrun.Match(out)
		r.tellCRIUCgroup = oldRunc.Match(out)
	}
	return r, nil
}

// oldCrun matches crun releases before 1.9, which reject any ociVersion
// other than 1.0.x with "unknown version specified".
var oldCrun = regexp.MustCompile(`(?m)^crun version 1\.[0-8](\.|$|\s)`)

func (r *runcCLI) Name() string { return r.name }

// invocation is one run of the runtime binary.
type invocation struct {
	args  []string
	stdio *Stdio    // the container's streams (create, exec); nil captures output
	input io.Reader // stdin when stdio is nil
}

// run executes the binary while holding the reaper, so the binary's exit
// status reaches exec.Cmd and not the shim's wait4(-1). With stdio the
// runtime passes its own streams to the container, so its error messages are
// read from a per-call log file rather than from stderr.
func (r *runcCLI) run(ctx context.Context, inv invocation) ([]byte, error) {
	logPath := filepath.Join(r.root, fmt.Sprintf("log-%d-%d.json", os.Getpid(), r.seq.Add(1)))
	defer os.Remove(logPath)
	args := []string{"--root", r.root, "--log", logPath, "--log-format", "json"}
	if r.systemd {
		args = append(args, "--systemd-cgroup")
	}
	args = append(args, inv.args...)
	cmd := exec.CommandContext(ctx, r.path, args...)
	var stdout, stderr bytes.Buffer
	if inv.stdio != nil {
		done, err := setStdio(cmd, inv.stdio)
		if err != nil {
			return nil, err
		}
		defer done()
	} else {
		cmd.Stdin = inv.input
		cmd.Stdout = &stdout
		cmd.Stderr = &stderr
	}
	release := r.reaper.Hold()
	err := cmd.Run()
	release()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if m := lastLogError(logPath); m != "" {
			msg = m
		}
		return nil, fmt.Errorf("%s %s: %w: %s", r.path, inv.args[0], err, msg)
	}
	return stdout.Bytes(), nil
}

// setStdio hands the container's streams to the runtime. A stream the
// container does not have must not be the host's /dev/null, which
// exec.Cmd would open: crun (1.8) fchowns the stdio it gets to the
// container's user, and so chowned the host's /dev/null. Such a stream is
// a pipe instead: stdin reads EOF at once, output is read and dropped
// until the container closes it. done closes this side's copies once the
// runtime has run.
func setStdio(cmd *exec.Cmd, s *Stdio) (done func(), err error) {
	var ours []*os.File
	done = func() {
		for _, f := range ours {
			f.Close()
		}
	}
	defer func() {
		if err != nil {
			done()
		}
	}()
	stdin := s.Stdin
	if stdin == nil {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("empty stdin for the container: %w", err)
		}
		w.Close()
		stdin, ours = r, append(ours, r)
	}
	output := func(f *os.File) (*os.File, error) {
		if f != nil {
			return f, nil
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("discarded output of the container: %w", err)
		}
		go func() {
			_, _ = io.Copy(io.Discard, r)
			r.Close()
		}()
		ours = append(ours, w)
		return w, nil
	}
	stdout, err := output(s.Stdout)
	if err != nil {
		return nil, err
	}
	stderr, err := output(s.Stderr)
	if err != nil {
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	return done, nil
}

// lastLogError returns the last error-level message of a runtime's JSON log.
func lastLogError(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var last string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var entry struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &entry) == nil && (entry.Level == "error" || entry.Level == "fatal") {
			last = entry.Msg
		}
	}
	return last
}

// notExist recognises the runtimes' "no such container" errors: runc says
// "container does not exist", crun fails to open the container's state dir
// ("error opening file `<root>/<id>/status`: No such file or directory").
func (r *runcCLI) notExist(id string, err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "container does not exist") ||
		(strings.Contains(s, filepath.Join(r.root, id)) && strings.Contains(s, "No such file or directory"))
}

func (r *runcCLI) Create(ctx context.Context, id, bundle string, stdio Stdio) (int, error) {
	spec, err := LoadSpec(bundle)
	if err != nil {
		return 0, err
	}
	terminal := spec.Process != nil && spec.Process.Terminal
	if terminal {
		if err := needConsole(id, stdio); err != nil {
			return 0, err
		}
	}
	pidFile := filepath.Join(r.root, id+".pid")
	defer os.Remove(pidFile)
	if r.oldOCIVersion && !strings.HasPrefix(spec.Version, "1.0.") {
		// The document is compatible; declare the version the binary knows.
		spec.Version = compatOCIVersion
		if err := WriteSpec(bundle, spec); err != nil {
			return 0, err
		}
	}
	args := []string{"create", "--bundle", bundle, "--pid-file", pidFile}
	console, args, err := r.consoleArgs(terminal, args)
	if err != nil {
		return 0, err
	}
	if _, err := r.run(ctx, invocation{args: append(args, id), stdio: &stdio}); err != nil {
		console.Close(false)
		if strings.Contains(err.Error(), "already exists") {
			return 0, fmt.Errorf("create container %s: %w: %w", id, err, errdefs.ErrAlreadyExists)
		}
		return 0, fmt.Errorf("create container %s: %w", id, err)
	}
	pid, err := readPidFile(pidFile)
	if err == nil {
		err = r.takeConsole(console, stdio)
	}
	if err != nil {
		_ = r.Delete(context.WithoutCancel(ctx), id, true)
		return 0, fmt.Errorf("create container %s: %w", id, err)
	}
	return pid, nil
}

// consoleArgs adds --console-socket for a terminal process.
func (r *runcCLI) consoleArgs(terminal bool, args []string) (*consoleListener, []string, error) {
	if !terminal {
		return nil, args, nil
	}
	l, err := listenConsole()
	if err != nil {
		return nil, nil, err
	}
	return l, append(args, "--console-socket", l.path), nil
}

func (r *runcCLI) takeConsole(l *consoleListener, stdio Stdio) error {
	if l == nil {
		return nil
	}
	master, err := l.Master()
	l.Close(err == nil)
	if err != nil {
		return fmt.Errorf("receive pty master: %w", err)
	}
	deliverConsole(stdio, master)
	return nil
}

func readPidFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s holds %q", path, data)
	}
	return pid, nil
}

func (r *runcCLI) Start(ctx context.Context, id string) error {
	if _, err := r.run(ctx, invocation{args: []string{"start", id}}); err != nil {
		return r.classify(id, "start", err)
	}
	return nil
}

func (r *runcCLI) classify(id, op string, err error) error {
	if r.notExist(id, err) {
		return fmt.Errorf("%s container %s: %w: %w", op, id, err, errdefs.ErrNotFound)
	}
	return fmt.Errorf("%s container %s: %w", op, id, err)
}

func (r *runcCLI) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	args = append(args, id, strconv.Itoa(int(sig)))
	if _, err := r.run(ctx, invocation{args: args}); err != nil {
		if strings.Contains(err.Error(), "not running") || strings.Contains(err.Error(), "process already finished") {
			return fmt.Errorf("signal container %s: %w: %w", id, err, errdefs.ErrFailedPrecondition)
		}
		return r.classify(id, "signal", err)
	}
	return nil
}

func (r *runcCLI) Delete(ctx context.Context, id string, force bool) error {
	st, err := r.State(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Status != StatusStopped {
		if !force {
			return fmt.Errorf("delete container %s: it is %s: %w", id, st.Status, errdefs.ErrFailedPrecondition)
		}
		// Kill and wait here instead of "delete --force": the runtime
		// would poll a zombie that only our reaper can collect.
		if err := r.killAndWait(ctx, id); err != nil {
			return err
		}
	} else if _, err := r.run(ctx, invocation{args: []string{"delete", id}}); err == nil || r.notExist(id, err) {
		// A stopped container needs no --force, which costs runc about
		// 100 ms (it freezes the cgroup and signals what is left in it).
		return nil
	}
	// Forced: the container was running, or the plain delete failed (a
	// process left in its cgroup, a child of a shared pid namespace).
	if _, err := r.run(ctx, invocation{args: []string{"delete", "--force", id}}); err != nil && !r.notExist(id, err) {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	return nil
}

func (r *runcCLI) killAndWait(ctx context.Context, id string) error {
	_ = r.Kill(ctx, id, syscall.SIGKILL, true)
	deadline := time.Now().Add(stopTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st, err := r.State(ctx, id)
		if err != nil || st.Status == StatusStopped {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("container %s still running %s after SIGKILL: %w", id, stopTimeout, errdefs.ErrUnavailable)
}

func (r *runcCLI) State(ctx context.Context, id string) (*State, error) {
	out, err := r.run(ctx, invocation{args: []string{"state", id}})
	if err != nil {
		return nil, r.classify(id, "state of", err)
	}
	var s specs.State
	if err := json.Unmarshal(out, &s); err != nil {
		return nil, fmt.Errorf("parse state of container %s: %w", id, err)
	}
	st := &State{ID: id, Pid: s.Pid, Bundle: s.Bundle, Status: Status(s.Status)}
	if st.Status == StatusStopped {
		st.Pid = 0
	}
	return st, nil
}

func (r *runcCLI) Exec(ctx context.Context, id string, process *specs.Process, stdio Stdio) (int, error) {
	if process == nil || len(process.Args) == 0 {
		return 0, fmt.Errorf("exec in container %s: no command: %w", id, errdefs.ErrInvalidArgument)
	}
	if process.Terminal {
		if err := needConsole(id, stdio); err != nil {
			return 0, err
		}
	}
	n := r.seq.Add(1)
	procFile := filepath.Join(r.root, fmt.Sprintf("%s-exec-%d.json", id, n))
	pidFile := filepath.Join(r.root, fmt.Sprintf("%s-exec-%d.pid", id, n))
	defer os.Remove(procFile)
	defer os.Remove(pidFile)
	data, err := json.Marshal(process)
	if err != nil {
		return 0, fmt.Errorf("encode exec process: %w", err)
	}
	if err := os.WriteFile(procFile, data, 0o600); err != nil {
		return 0, fmt.Errorf("write exec process: %w", err)
	}
	args := []string{"exec", "--detach", "--pid-file", pidFile, "--process", procFile}
	console, args, err := r.consoleArgs(process.Terminal, args)
	if err != nil {
		return 0, err
	}
	if _, err := r.run(ctx, invocation{args: append(args, id), stdio: &stdio}); err != nil {
		console.Close(false)
		return 0, r.classify(id, fmt.Sprintf("exec %q in", process.Args[0]), err)
	}
	pid, err := readPidFile(pidFile)
	if err == nil {
		if err = r.takeConsole(console, stdio); err != nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return pid, err
}

func (r *runcCLI) Pids(ctx context.Context, id string) ([]int, error) {
	out, err := r.run(ctx, invocation{args: []string{"ps", "--format", "json", id}})
	if err != nil {
		return nil, r.classify(id, "pids of", err)
	}
	var pids []int
	if err := json.Unmarshal(out, &pids); err != nil {
		return nil, fmt.Errorf("parse pids of container %s: %w", id, err)
	}
	return pids, nil
}

func (r *runcCLI) Update(ctx context.Context, id string, resources *specs.LinuxResources) error {
	if resources == nil {
		return nil
	}
	data, err := json.Marshal(resources)
	if err != nil {
		return fmt.Errorf("encode resources: %w", err)
	}
	if _, err := r.run(ctx, invocation{
		args:  []string{"update", "--resources", "-", id},
		input: bytes.NewReader(data),
	}); err != nil {
		return r.classify(id, "update", err)
	}
	return nil
}

// Checkpoint runs "<runtime> checkpoint" (runc and crun both drive CRIU).
func (r *runcCLI) Checkpoint(ctx context.Context, id string, opts CheckpointOptions) error {
	if opts.ImagePath == "" {
		return fmt.Errorf("checkpoint of container %s: no image path: %w", id, errdefs.ErrInvalidArgument)
	}
	if _, err := r.run(ctx, invocation{args: checkpointArgs(id, opts)}); err != nil {
		if noCheckpointSupport(err) {
			return fmt.Errorf("runtime %s has no checkpoint support (built without CRIU): %w: %w", r.path, err, errdefs.ErrFailedPrecondition)
		}
		return r.classify(id, "checkpoint", err)
	}
	if opts.LeaveRunning {
		return dropCheckpointMarker(r.root, id)
	}
	return nil
}

// noCheckpointSupport recognises a runtime built without CRIU: Debian
// 12's crun 1.8.1 answers "unknown command checkpoint".
func noCheckpointSupport(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unknown command checkpoint") || strings.Contains(s, "unknown command restore")
}

func checkpointArgs(id string, opts CheckpointOptions) []string {
	args := []string{"checkpoint", "--image-path", opts.ImagePath, "--file-locks"}
	if opts.WorkPath != "" {
		args = append(args, "--work-path", opts.WorkPath)
	}
	if opts.LeaveRunning {
		args = append(args, "--leave-running")
	}
	if opts.TCPEstablished {
		args = append(args, "--tcp-established")
	}
	return append(args, id)
}

func (r *runcCLI) Pause(ctx context.Context, id string) error {
	if _, err := r.run(ctx, invocation{args: []string{"pause", id}}); err != nil {
		return r.classify(id, "pause", err)
	}
	return nil
}

func (r *runcCLI) Resume(ctx context.Context, id string) error {
	if _, err := r.run(ctx, invocation{args: []string{"resume", id}}); err != nil {
		return r.classify(id, "resume", err)
	}
	return nil
}

// Restore runs "<runtime> restore --detach": the restored init outlives
// the runtime and is reparented to the caller, the subreaper. On cgroup
// v2 the restored init must be in the container's cgroup, where a stop
// finds it (restore_cgroup.go).
func (r *runcCLI) Restore(ctx context.Context, id, bundle string, stdio Stdio, opts RestoreOptions) (int, error) {
	spec, err := restorableSpec(id, bundle, opts)
	if err != nil {
		return 0, err
	}
	cgroup, known := specCgroupV2(spec, r.systemd)
	if r.unified && r.tellCRIUCgroup {
		if !known {
			return 0, fmt.Errorf("restore container %s: %s (runc before 1.2) on cgroup v2 needs the container's cgroup told to CRIU, and the spec names none Cricket can locate (linux.cgroupsPath empty or relative): %w",
				id, r.path, errdefs.ErrFailedPrecondition)
		}
		if err := tellCRIUTheCgroup(bundle, spec, cgroup); err != nil {
			return 0, fmt.Errorf("restore container %s: %w", id, err)
		}
	}
	var recreated []string
	if r.unified && known {
		workPath := opts.WorkPath
		if workPath == "" {
			workPath = opts.ImagePath
		}
		recreated = absentDumpedCgroups(workPath, r.systemd, cgroup)
	}
	pidFile := filepath.Join(r.root, id+".pid")
	defer os.Remove(pidFile)
	if _, err := r.run(ctx, invocation{args: restoreArgs(id, bundle, pidFile, opts), stdio: &stdio}); err != nil {
		_ = r.Delete(context.WithoutCancel(ctx), id, true)
		_ = removeRecreatedCgroups(recreated, "")
		if noCheckpointSupport(err) {
			return 0, fmt.Errorf("runtime %s has no restore support (built without CRIU): %w: %w", r.path, err, errdefs.ErrFailedPrecondition)
		}
		return 0, fmt.Errorf("restore container %s: %w", id, err)
	}
	// The restored processes CRIU put back into the cgroups it re-created
	// for the checkpointed container join the container's (restore_cgroup.go).
	rmErr := removeRecreatedCgroups(recreated, cgroup)
	pid, err := readPidFile(pidFile)
	if err == nil {
		err = rmErr
	}
	if err == nil && r.unified && known {
		if err = checkRestoredCgroup(r.pidCgroup, pid, cgroup); err != nil {
			// Killed by pid: the runtime's kill --all signals the
			// container's cgroup, which the process is not in.
			_ = r.kill(pid, syscall.SIGKILL)
		}
	}
	if err != nil {
		_ = r.Delete(context.WithoutCancel(ctx), id, true)
		return 0, fmt.Errorf("restore container %s: %w", id, err)
	}
	return pid, nil
}

func restoreArgs(id, bundle, pidFile string, opts RestoreOptions) []string {
	args := []string{"restore", "--detach", "--bundle", bundle, "--pid-file", pidFile, "--image-path", opts.ImagePath, "--file-locks"}
	if opts.WorkPath != "" {
		args = append(args, "--work-path", opts.WorkPath)
	}
	if opts.TCPEstablished {
		args = append(args, "--tcp-established")
	}
	return append(args, id)
}
