package cdi

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

const jsonSpec = `{"cdiVersion":"0.6.0","kind":"vendor.example/gpu",
 "containerEdits":{"env":["SPEC_WIDE=1"]},
 "devices":[
  {"name":"gpu0","containerEdits":{"env":["GPU=0"],"deviceNodes":[{"path":"/dev/gpu0","hostPath":"/dev/null","permissions":"rw"}],
   "mounts":[{"hostPath":"/opt/gpu","containerPath":"/usr/lib/gpu","options":["ro"]}],
   "hooks":[{"hookName":"createContainer","path":"/usr/bin/gpu-hook","args":["gpu-hook","x"]}],
   "additionalGids":[44]}},
  {"name":"gpu1","containerEdits":{"env":["GPU=1"]}}]}`

const yamlSpec = `cdiVersion: "0.6.0"
kind: vendor.example/gpu
devices:
  - name: gpu1
    containerEdits:
      env: ["GPU=dynamic-1"]
  - name: fifo
    containerEdits:
      deviceNodes:
        - path: /dev/fifo
          type: p
`

func writeSpecs(t *testing.T, files map[string]string) []string {
	t.Helper()
	root := t.TempDir()
	var dirs []string
	for _, d := range []string{"etc", "run"} {
		dirs = append(dirs, filepath.Join(root, d))
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return append(dirs, filepath.Join(root, "missing"))
}

func TestResolve(t *testing.T) {
	dirs := writeSpecs(t, map[string]string{
		"etc/gpu.json":    jsonSpec,
		"run/gpu.yaml":    yamlSpec,
		"etc/broken.json": `{"cdiVersion":"0.6.0","kind":"bad kind","devices":[{"name":"x"}]}`,
		"etc/ignored.txt": "not a spec",
	})
	r := NewRegistry(dirs)
	tests := []struct {
		desc    string
		names   []string
		wantEnv []string
		wantErr error
	}{
		{desc: "none", wantEnv: nil},
		{desc: "static device with spec-wide edits", names: []string{"vendor.example/gpu=gpu0"}, wantEnv: []string{"SPEC_WIDE=1", "GPU=0"}},
		{desc: "dynamic dir overrides static", names: []string{"vendor.example/gpu=gpu1"}, wantEnv: []string{"GPU=dynamic-1"}},
		{desc: "spec-wide edits once per spec", names: []string{"vendor.example/gpu=gpu0", "vendor.example/gpu=gpu0"}, wantEnv: []string{"SPEC_WIDE=1", "GPU=0", "GPU=0"}},
		{desc: "unknown device", names: []string{"vendor.example/gpu=gpu9"}, wantErr: errdefs.ErrInvalidArgument},
		{desc: "unqualified name", names: []string{"gpu0"}, wantErr: errdefs.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			e, err := r.Resolve(tc.names)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && !slices.Equal(e.Env, tc.wantEnv) {
				t.Errorf("env = %v, want %v", e.Env, tc.wantEnv)
			}
		})
	}
	_, err := r.Resolve([]string{"vendor.example/gpu=nope"})
	if err == nil || !strings.Contains(err.Error(), "broken.json") {
		t.Errorf("error does not name the unusable spec: %v", err)
	}
}

func TestParseSpecRejects(t *testing.T) {
	tests := []struct{ desc, name, data string }{
		{"no version", "a.json", `{"kind":"v.x/c","devices":[{"name":"d"}]}`},
		{"no devices", "a.json", `{"cdiVersion":"0.6.0","kind":"v.x/c"}`},
		{"relative device path", "a.json", `{"cdiVersion":"0.6.0","kind":"v.x/c","devices":[{"name":"d","containerEdits":{"deviceNodes":[{"path":"dev/x"}]}}]}`},
		{"bad permissions", "a.json", `{"cdiVersion":"0.6.0","kind":"v.x/c","devices":[{"name":"d","containerEdits":{"deviceNodes":[{"path":"/dev/x","permissions":"rwx"}]}}]}`},
		{"unknown hook", "a.json", `{"cdiVersion":"0.6.0","kind":"v.x/c","devices":[{"name":"d","containerEdits":{"hooks":[{"hookName":"later","path":"/x"}]}}]}`},
		{"intel rdt", "a.json", `{"cdiVersion":"0.6.0","kind":"v.x/c","devices":[{"name":"d","containerEdits":{"intelRdt":{"closID":"x"}}}]}`},
		{"env without value", "a.json", `{"cdiVersion":"0.6.0","kind":"v.x/c","devices":[{"name":"d","containerEdits":{"env":["NOEQ"]}}]}`},
		{"duplicate device", "a.yaml", "cdiVersion: 0.6.0\nkind: v.x/c\ndevices:\n- name: d\n- name: d\n"},
		{"bad yaml", "a.yaml", "cdiVersion: [\n"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := ParseSpec(tc.name, []byte(tc.data)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestApply(t *testing.T) {
	dirs := writeSpecs(t, map[string]string{"etc/gpu.json": jsonSpec, "run/gpu.yaml": yamlSpec})
	e, err := NewRegistry(dirs).Resolve([]string{"vendor.example/gpu=gpu0"})
	if err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{
		Process: &specs.Process{Env: []string{"PATH=/bin", "GPU=old"}},
		Mounts:  []specs.Mount{{Destination: "/usr/lib/gpu", Type: "tmpfs"}, {Destination: "/proc", Type: "proc"}},
		Linux:   &specs.Linux{Resources: &specs.LinuxResources{}},
	}
	if err := e.Apply(spec); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(spec.Process.Env, []string{"PATH=/bin", "SPEC_WIDE=1", "GPU=0"}) {
		t.Errorf("env = %v", spec.Process.Env)
	}
	if len(spec.Linux.Devices) != 1 || spec.Linux.Devices[0].Path != "/dev/gpu0" || spec.Linux.Devices[0].Type != "c" || spec.Linux.Devices[0].Major != 1 || spec.Linux.Devices[0].Minor != 3 {
		t.Errorf("devices = %+v, want /dev/gpu0 as /dev/null's c 1:3", spec.Linux.Devices)
	}
	if r := spec.Linux.Resources.Devices; len(r) != 1 || r[0].Access != "rw" || *r[0].Major != 1 || *r[0].Minor != 3 || !r[0].Allow {
		t.Errorf("device rules = %+v", r)
	}
	if len(spec.Mounts) != 2 || spec.Mounts[1].Destination != "/usr/lib/gpu" || spec.Mounts[1].Type != "bind" || !slices.Equal(spec.Mounts[1].Options, []string{"rbind", "ro"}) {
		t.Errorf("mounts = %+v, want the CDI bind mount replacing the tmpfs", spec.Mounts)
	}
	if spec.Hooks == nil || len(spec.Hooks.CreateContainer) != 1 || spec.Hooks.CreateContainer[0].Path != "/usr/bin/gpu-hook" {
		t.Errorf("hooks = %+v", spec.Hooks)
	}
	if !slices.Equal(spec.Process.User.AdditionalGids, []uint32{44}) {
		t.Errorf("gids = %v", spec.Process.User.AdditionalGids)
	}
	missing := &ContainerEdits{DeviceNodes: []DeviceNode{{Path: "/dev/x", HostPath: "/nonexistent/dev"}}}
	if err := missing.Apply(spec); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("missing host node: %v", err)
	}
}
