package container_test

import (
	"os"
	"path/filepath"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox/container"
)

func TestLookPath(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"bin/sh", "usr/bin/env"} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "data"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	look := container.FSLookPath(func(r string) fsFS { return os.DirFS(r) })
	mounts := []*runtimeapi.Mount{{ContainerPath: "/scripts"}}
	cases := []struct {
		desc string
		env  []string
		cmd  string
		ok   bool
	}{
		{desc: "in default PATH", cmd: "sh", ok: true},
		{desc: "in env PATH", env: []string{"PATH=/usr/bin"}, cmd: "env", ok: true},
		{desc: "not in env PATH", env: []string{"PATH=/usr/bin"}, cmd: "sh"},
		{desc: "absolute", cmd: "/bin/sh", ok: true},
		{desc: "not executable", cmd: "/bin/data"},
		{desc: "missing", cmd: "nope"},
		{desc: "under a volume mount", cmd: "/scripts/probe.sh", ok: true},
		{desc: "relative to the working dir: not checked", cmd: "./run.sh", ok: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			err := look(root, tc.env, mounts, tc.cmd)
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errdefs.IsInvalidArgument(err) {
				t.Errorf("err = %v, want InvalidArgument", err)
			}
		})
	}
}
