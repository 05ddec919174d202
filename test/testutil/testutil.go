// Package testutil holds helpers shared by Cricket's tests.
package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RootTestsEnv is the environment variable that enables tests which need
// root (mounts, namespaces, cgroups, a real daemon). `make root-test` and
// `make integration` set it; plain `go test ./...` leaves those tests skipped
// so that unit tests run anywhere.
const RootTestsEnv = "CRICKET_ROOT_TESTS"

// RequireRoot skips t unless the process is root and RootTestsEnv is "1".
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Getenv(RootTestsEnv) != "1" {
		t.Skipf("needs root: set %s=1 (make root-test)", RootTestsEnv)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// RunWithCricketd is a TestMain body for packages that start real daemons:
// it sets *bin to $CRICKETD_BIN or, for root tests without it, to a cricketd
// it builds once (with cricket-shim beside it, where cricketd looks for its
// per-pod shim) into a temporary directory removed afterwards; then it runs
// the tests and returns their exit code.
func RunWithCricketd(m *testing.M, bin *string) int {
	if os.Getenv(RootTestsEnv) != "1" || os.Getenv("CRICKETD_BIN") != "" {
		*bin = os.Getenv("CRICKETD_BIN")
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "cricketd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, b := range []string{"cricketd", "cricket-shim"} {
		build := exec.Command("go", "build", "-tags", "seccomp", "-o", filepath.Join(dir, b), "github.com/cricket-cri/cricket/cmd/"+b)
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", b, err)
			return 1
		}
	}
	*bin = filepath.Join(dir, "cricketd")
	return m.Run()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
