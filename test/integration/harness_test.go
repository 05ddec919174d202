package integration

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// cricketdBin is the daemon binary under test: $CRICKETD_BIN, or one built
// once by TestMain. Its shim, cricket-shim, must be in the same directory
// (make build puts both in bin/).
var cricketdBin string

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithCricketd(m, &cricketdBin))
}

// newDaemon prepares a daemon with private root, state and socket, without
// starting it; it is stopped (SIGTERM, then SIGKILL) when the test ends.
func newDaemon(t *testing.T) *harness.Daemon {
	t.Helper()
	testutil.RequireRoot(t)
	d := harness.NewDaemon(t, cricketdBin, t.TempDir())
	d.Args = []string{"-v", "4"}
	return d
}

// startDaemon starts a daemon with default settings and waits until it serves.
func startDaemon(t *testing.T) *harness.Daemon {
	d := newDaemon(t)
	d.Start()
	return d
}

// runDaemonOnce runs cricketd with args to completion and returns its exit
// code and output.
func runDaemonOnce(t *testing.T, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cricketdBin, args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("cricketd %v did not exit within %v\n%s", args, timeout, out)
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("run cricketd: %v", err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}
