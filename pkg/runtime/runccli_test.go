package runtime

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// fakeRuntime is a shell script with runc's command line: it records its
// arguments and answers from a state file it keeps per container.
const fakeRuntime = `#!/bin/sh
echo "$@" >> "$FAKE_LOG"
while [ "${1#--}" != "$1" ]; do
	case "$1" in --root) root=$2; shift 2 ;; --log|--log-format) shift 2 ;; --version) break ;; *) shift ;; esac
done
cmd=$1; shift
case "$cmd" in
--version|-v) echo "${FAKE_VERSION:-fake version 1.0}" ;;
create)
	while [ "${1#--}" != "$1" ]; do
		case "$1" in --pid-file) echo 4242 > "$2"; shift 2 ;; --bundle) shift 2 ;; *) shift ;; esac
	done
	echo created > "$FAKE_DIR/$1" ;;
start) [ -f "$FAKE_DIR/$1" ] || { echo "container does not exist" >&2; exit 1; }; echo running > "$FAKE_DIR/$1" ;;
state)
	[ -f "$FAKE_DIR/$1" ] || { echo "container does not exist" >&2; exit 1; }
	printf '{"ociVersion":"1.0.2","id":"%s","status":"%s","pid":4242,"bundle":"/b"}' "$1" "$(cat "$FAKE_DIR/$1")" ;;
kill) for a; do id=$a; done; echo stopped > "$FAKE_DIR/$2" 2>/dev/null; true ;;
delete)
	for a; do id=$a; done
	[ -f "$FAKE_DIR/$id" ] || { echo "container does not exist" >&2; exit 1; }
	[ "$1" != --force ] && [ -f "$FAKE_DIR/$id.busy" ] && { echo "unable to remove cgroup: device or resource busy" >&2; exit 1; }
	rm "$FAKE_DIR/$id" ;;
ps) echo "[4242,4243]" ;;
checkpoint) for a; do id=$a; done; mkdir -p "$root/$id" && touch "$root/$id/checkpoint" ;;
restore)
	while [ "${1#--}" != "$1" ]; do
		case "$1" in
		--pid-file) echo "${FAKE_RESTORE_PID:-4242}" > "$2"; shift 2 ;;
		--bundle) conf=$(sed -n 's/.*"org.criu.config": *"\([^"]*\)".*/\1/p' "$2/config.json"); shift 2 ;;
		--image-path|--work-path) shift 2 ;;
		*) shift ;;
		esac
	done
	[ -z "$conf" ] || cp "$conf" "$FAKE_DIR/criu.conf"
	echo running > "$FAKE_DIR/$1" ;;
update) cat > "$FAKE_DIR/update.json" ;;
*) echo "unknown command $cmd" >&2; exit 1 ;;
esac
`

func newFakeCLI(t *testing.T) (*runcCLI, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake-runc")
	if err := os.WriteFile(bin, []byte(fakeRuntime), 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "args.log")
	t.Setenv("FAKE_LOG", log)
	t.Setenv("FAKE_DIR", state)
	r, err := newRuncCLI("fake", bin, Options{Root: filepath.Join(dir, "root"), Reaper: ProcessReaper()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(r.root, 0o700); err != nil {
		t.Fatal(err)
	}
	return r, log
}

func TestRuncCLILifecycle(t *testing.T) {
	r, log := newFakeCLI(t)
	ctx := context.Background()
	bundle := t.TempDir()
	if err := WriteSpec(bundle, &specs.Spec{Version: "1.3.0", Process: &specs.Process{Args: []string{"sh"}}}); err != nil {
		t.Fatal(err)
	}
	pid, err := r.Create(ctx, "c1", bundle, Stdio{})
	if err != nil || pid != 4242 {
		t.Fatalf("Create = %d, %v", pid, err)
	}
	if err := r.Start(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if st, err := r.State(ctx, "c1"); err != nil || st.Status != StatusRunning || st.Pid != 4242 {
		t.Fatalf("State = %+v, %v", st, err)
	}
	if pids, err := r.Pids(ctx, "c1"); err != nil || len(pids) != 2 {
		t.Fatalf("Pids = %v, %v", pids, err)
	}
	if err := r.Update(ctx, "c1", &specs.LinuxResources{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Kill(ctx, "c1", syscall.SIGTERM, true); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "c1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.State(ctx, "c1"); !errdefs.IsNotFound(err) {
		t.Fatalf("State after delete: %v, want NotFound", err)
	}
	if err := r.Delete(ctx, "c1", false); err != nil {
		t.Fatalf("Delete of a missing container: %v", err)
	}
	if err := r.Start(ctx, "nope"); !errdefs.IsNotFound(err) {
		t.Fatalf("Start of a missing container: %v, want NotFound", err)
	}
	args, _ := os.ReadFile(log)
	for _, want := range []string{
		"--root " + r.root + " --log ",
		"create --bundle " + bundle + " --pid-file ",
		"kill --all c1 15",
		"update --resources - c1",
		"delete c1",
	} {
		if !strings.Contains(string(args), want) {
			t.Errorf("no call with %q in:\n%s", want, args)
		}
	}
}

// TestRuncCLIDeleteStoppedWithoutForce: a stopped container is deleted
// without --force (runc spends about 100 ms freezing and signalling the
// cgroup for it), unless the plain delete fails.
func TestRuncCLIDeleteStoppedWithoutForce(t *testing.T) {
	r, log := newFakeCLI(t)
	ctx := context.Background()
	bundle := t.TempDir()
	if err := WriteSpec(bundle, &specs.Spec{Process: &specs.Process{Args: []string{"sh"}}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"plain", "busy"} {
		if _, err := r.Create(ctx, id, bundle, Stdio{}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(os.Getenv("FAKE_DIR"), id), []byte("stopped\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(os.Getenv("FAKE_DIR"), "busy.busy"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"plain", "busy"} {
		if err := r.Delete(ctx, id, false); err != nil {
			t.Fatalf("Delete(%s): %v", id, err)
		}
		if _, err := r.State(ctx, id); !errdefs.IsNotFound(err) {
			t.Fatalf("State of %s after delete: %v, want NotFound", id, err)
		}
	}
	args, _ := os.ReadFile(log)
	if strings.Contains(string(args), "delete --force plain") {
		t.Errorf("a stopped container was deleted with --force:\n%s", args)
	}
	if !strings.Contains(string(args), "delete --force busy") {
		t.Errorf("no forced delete after the plain delete failed:\n%s", args)
	}
}

func TestRuncCLIDeleteRunningNeedsForce(t *testing.T) {
	r, _ := newFakeCLI(t)
	ctx := context.Background()
	bundle := t.TempDir()
	if err := WriteSpec(bundle, &specs.Spec{Process: &specs.Process{Args: []string{"sh"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ctx, "c1", bundle, Stdio{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "c1", false); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Delete of a created container: %v, want FailedPrecondition", err)
	}
	if err := r.Delete(ctx, "c1", true); err != nil {
		t.Fatalf("forced Delete: %v", err)
	}
}

func TestRuncCLIClassification(t *testing.T) {
	r := &runcCLI{root: "/run/x"}
	tests := []struct {
		desc string
		msg  string
		want bool
	}{
		{desc: "runc", msg: "container does not exist", want: true},
		{desc: "crun state", msg: "error opening file `/run/x/c1/status`: No such file or directory", want: true},
		{desc: "missing command in exec", msg: "executable file `foo` not found in $PATH: No such file or directory", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := r.notExist("c1", errString(tc.msg)); got != tc.want {
				t.Fatalf("notExist(%q) = %v", tc.msg, got)
			}
		})
	}
	for v, want := range map[string]bool{
		"crun version 1.8.1\ncommit: x": true,
		"crun version 1.9\n":            false,
		"crun version 1.19.1\n":         false,
		"runc version 1.1.5\n":          false,
	} {
		if got := oldCrun.MatchString(v); got != want {
			t.Errorf("oldCrun(%q) = %v", v, got)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestSetStdioNeverHostDevNull: streams a container does not have are
// pipes, never the host's /dev/null (crun fchowns its stdio to the
// container's user).
func TestSetStdioNeverHostDevNull(t *testing.T) {
	given, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer given.Close()
	cmd := exec.Command("true")
	done, err := setStdio(cmd, &Stdio{Stdout: given})
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if cmd.Stdout != given {
		t.Errorf("stdout = %v, want the given file", cmd.Stdout)
	}
	for name, s := range map[string]any{"stdin": cmd.Stdin, "stderr": cmd.Stderr} {
		f, ok := s.(*os.File)
		if !ok {
			t.Fatalf("%s is %T, want a pipe", name, s)
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFIFO {
			t.Errorf("%s has mode %o, want a pipe", name, st.Mode)
		}
	}
	buf := make([]byte, 1)
	if n, err := cmd.Stdin.(*os.File).Read(buf); n != 0 || err == nil {
		t.Errorf("stdin read %d, %v; want EOF", n, err)
	}
	// The command is not run: this package's reaper tests wait for any
	// child, and would take its exit status.
}

func TestCheckpointRestoreArgs(t *testing.T) {
	got := strings.Join(checkpointArgs("c1", CheckpointOptions{ImagePath: "/i", WorkPath: "/w", LeaveRunning: true, TCPEstablished: true}), " ")
	if want := "checkpoint --image-path /i --file-locks --work-path /w --leave-running --tcp-established c1"; got != want {
		t.Errorf("checkpoint args %q, want %q", got, want)
	}
	got = strings.Join(checkpointArgs("c1", CheckpointOptions{ImagePath: "/i"}), " ")
	if want := "checkpoint --image-path /i --file-locks c1"; got != want {
		t.Errorf("checkpoint args %q, want %q", got, want)
	}
	got = strings.Join(restoreArgs("c1", "/b", "/p", RestoreOptions{ImagePath: "/i", WorkPath: "/w"}), " ")
	if want := "restore --detach --bundle /b --pid-file /p --image-path /i --file-locks --work-path /w c1"; got != want {
		t.Errorf("restore args %q, want %q", got, want)
	}
}

func TestNoCheckpointSupport(t *testing.T) {
	if !noCheckpointSupport(errors.New("/usr/bin/crun checkpoint: exit status 1: unknown command checkpoint")) {
		t.Error("crun 1.8.1's answer not recognised")
	}
	if noCheckpointSupport(errors.New("criu failed: type DUMP errno 0")) {
		t.Error("a CRIU failure taken for a missing feature")
	}
}

// TestRuncCLICheckpointLeavesNoMarker: runc leaves a "checkpoint" file in
// the container's state dir after a dump; a container that runs on keeps
// its state as it was.
func TestRuncCLICheckpointLeavesNoMarker(t *testing.T) {
	r, _ := newFakeCLI(t)
	marker := filepath.Join(r.root, "c1", "checkpoint")
	if err := r.Checkpoint(context.Background(), "c1", CheckpointOptions{ImagePath: t.TempDir(), LeaveRunning: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the checkpoint marker is left: %v", err)
	}
}
