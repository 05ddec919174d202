package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func fakeCRIU(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "criu")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProbeCRIUMissing(t *testing.T) {
	c := ProbeCRIUBinary(context.Background(), "/nonexistent/criu")
	if c.Usable() || !errdefs.IsFailedPrecondition(c.Err) || !strings.Contains(c.Err.Error(), "not found") {
		t.Fatalf("probe of a missing binary = %+v, want a FailedPrecondition naming it", c)
	}
}

func TestProbeCRIUCheckFails(t *testing.T) {
	p := fakeCRIU(t, `case "$1" in
--version) echo "Version: 3.17.1";;
check) echo "Warn (criu/kerndat.c:1): something harmless"
  echo "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds" >&2
  echo "Error (criu/crtools.c:260): Could not initialize kernel features detection." >&2
  exit 1;;
esac`)
	c := ProbeCRIUBinary(context.Background(), p)
	if c.Usable() || !errdefs.IsFailedPrecondition(c.Err) {
		t.Fatalf("probe = %+v, want unusable", c)
	}
	msg := c.Err.Error()
	if !strings.Contains(msg, "vDSO area bounds") || !strings.Contains(msg, "kernel features detection") || strings.Contains(msg, "harmless") {
		t.Fatalf("reason %q: want CRIU's error lines and only those", msg)
	}
	if c.Version != "Version: 3.17.1" || c.Path != p {
		t.Fatalf("probe = %+v", c)
	}
}

func TestProbeCRIUCheckPasses(t *testing.T) {
	p := fakeCRIU(t, `case "$1" in
--version) echo "Version: 3.17.1";;
check) echo "Looks good.";;
esac`)
	if c := ProbeCRIUBinary(context.Background(), p); !c.Usable() {
		t.Fatalf("probe = %+v, want usable", c)
	}
}
