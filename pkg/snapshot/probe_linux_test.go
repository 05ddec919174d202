package snapshot

import (
	"os"
	"testing"

	"github.com/cricket-cri/cricket/test/testutil"
)

func TestProbeOverlay(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	if err := ProbeOverlay(dir); err != nil {
		t.Fatalf("overlayfs on %s: %v", dir, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the probe left %d entries in %s", len(entries), dir)
	}
	if err := ProbeOverlay(dir + "/missing"); err == nil {
		t.Error("a missing dir: want an error")
	}
}
