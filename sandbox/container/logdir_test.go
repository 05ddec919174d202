package container

import (
	"os"
	"path/filepath"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// TestLogPathStaysBelowPodLogDir: a log path that climbs out of the pod's
// log directory is refused at create, and a symlink planted in the log
// directory (shared with a container through a volume) cannot make the
// daemon create the container's log dir outside it.
func TestLogPathStaysBelowPodLogDir(t *testing.T) {
	base := t.TempDir()
	dir, outside := filepath.Join(base, "logs"), filepath.Join(base, "outside")
	for _, d := range []string{dir, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "c")); err != nil {
		t.Fatal(err)
	}
	pod := Pod{Config: &runtimeapi.PodSandboxConfig{LogDirectory: dir}}
	for _, tc := range []struct {
		desc, logPath string
		wantErr       bool
	}{
		{desc: "plain", logPath: "a/0.log"},
		{desc: "dotdot", logPath: "../outside/0.log", wantErr: true},
		{desc: "absolute", logPath: "/etc/0.log", wantErr: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := logPath(pod, &runtimeapi.ContainerConfig{LogPath: tc.logPath})
			if tc.wantErr != (err != nil) || (err != nil && !errdefs.IsInvalidArgument(err)) {
				t.Errorf("logPath(%q) err = %v, wantErr %v", tc.logPath, err, tc.wantErr)
			}
		})
	}
	c := &Container{Metadata: Metadata{ID: "c1", LogPath: filepath.Join(dir, "c", "sub", "0.log")}}
	if _, err := makeLogDir(pod, c); !errdefs.IsInvalidArgument(err) {
		t.Errorf("makeLogDir through a symlink out: %v", err)
	}
	if left, _ := os.ReadDir(outside); len(left) != 0 {
		t.Errorf("created outside the log dir: %v", left)
	}
}
