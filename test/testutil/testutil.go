// Package testutil holds helpers shared by Cricket's tests.
package testutil

import (
	"os"
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
