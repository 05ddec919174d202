package fault

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// cricketdBin is the daemon under test: $CRICKETD_BIN, or one TestMain
// builds.
var cricketdBin string

func TestMain(m *testing.M) {
	closeInheritedOnExec()
	os.Exit(testutil.RunWithCricketd(m, &cricketdBin))
}

// closeInheritedOnExec marks the descriptors this process inherited
// (beyond stdio) close-on-exec, so that the daemons, shims and pod inits
// it starts do not hold them: run under `flock /tmp/cricket-root.lock`,
// a process the daemon leaked held the root-test lock of every other run
// on the machine until it was killed.
func closeInheritedOnExec() {
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

const (
	busyboxRef = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
	httpdRef   = "registry.k8s.io/e2e-test-images/httpd:2.4.39-4"
)

// daemon is the cricketd that the test kills and restarts on the same
// directories; its log accumulates over every run.
type daemon = harness.Daemon

// newDaemon prepares a daemon on the pod network n that pulls from the
// mirror m, with cgroupDriver ("" for its default); every RPC of its
// clients is counted in flight.
func newDaemon(t *testing.T, dir string, m *imagebuild.Mirror, n *podNet, cgroupDriver string) *daemon {
	t.Helper()
	d := harness.NewDaemon(t, cricketdBin, dir, grpc.WithUnaryInterceptor(inflight.intercept))
	certs := filepath.Join(dir, "certs.d")
	if err := imagebuild.WriteHostsDir(certs, m.Addrs()); err != nil {
		t.Fatal(err)
	}
	cfg := n.Config()
	if cgroupDriver != "" {
		cfg += fmt.Sprintf("[runtime]\ncgroup_driver = %q\n", cgroupDriver)
	}
	if err := os.WriteFile(d.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Args = []string{"--registry-config-path", certs, "-v", "2"}
	d.Quiet = true // TestFault saves the log of a failed run to a file
	return d
}

// procsOf lists the processes whose command line names the daemon's
// directory, without the daemon itself: shims, and whatever else runs
// from its state dir.
func procsOf(d *daemon) map[int]string {
	out := map[int]string{}
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	self := d.Pid()
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(raw, []byte(d.Dir)) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(f)), "%d", &pid); err != nil || pid == self {
			continue
		}
		out[pid] = strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " "))
	}
	return out
}

// shimsOf maps the pid of every shim of d to its pod ID.
func shimsOf(d *daemon) map[int]string {
	out := map[int]string{}
	for pid, cmdline := range procsOf(d) {
		f := strings.Fields(cmdline)
		if len(f) < 2 || f[1] != "__shim" {
			continue
		}
		for i := range f[:len(f)-1] {
			if f[i] == "--pod" {
				out[pid] = f[i+1]
			}
		}
	}
	return out
}
