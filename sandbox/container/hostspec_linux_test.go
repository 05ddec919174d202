package container

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/selinux"
)

type fakeHandlers map[string]runtime.Handler

func (f fakeHandlers) Lookup(name string) (runtime.Handler, error) {
	h, ok := f[name]
	if !ok {
		return runtime.Handler{}, fmt.Errorf("runtime handler %q: %w", name, errdefs.ErrNotFound)
	}
	return h, nil
}

func TestHostSpecsFeatures(t *testing.T) {
	builtin := runtime.Handler{Name: "cricket", Kind: runtime.KindBuiltin}
	// The builtin handler's answer is the kernel's (mount_setattr, 5.12).
	kernelRRO := runtime.SupportsRecursiveReadOnly(context.Background(), builtin)
	cases := []struct {
		desc     string
		handlers fakeHandlers
		handler  string
		wantRRO  bool
		wantErr  error
	}{
		{desc: "no handler lookup supports nothing optional"},
		{desc: "builtin handler", handlers: fakeHandlers{"": builtin}, wantRRO: kernelRRO},
		{desc: "unknown handler", handlers: fakeHandlers{}, handler: "nope", wantErr: errdefs.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			b := &HostSpecs{}
			if tc.handlers != nil {
				b.Handlers = tc.handlers
			}
			f, err := b.features(context.Background(), tc.handler)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("features: %v, want %v", err, tc.wantErr)
			}
			if f.RecursiveReadOnlyMounts != tc.wantRRO {
				t.Errorf("RecursiveReadOnlyMounts = %v, want %v", f.RecursiveReadOnlyMounts, tc.wantRRO)
			}
		})
	}
}

func TestStageable(t *testing.T) {
	pod := []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
	other := []specs.LinuxIDMapping{{HostID: 200000, Size: 65536}}
	spec := &specs.Spec{Linux: &specs.Linux{UIDMappings: pod, GIDMappings: pod}}
	tests := []struct {
		desc string
		m    specs.Mount
		want bool
	}{
		{desc: "private volume idmapped like the pod", m: specs.Mount{Type: "bind", Options: []string{"rbind", "rprivate", "rw"}, UIDMappings: pod, GIDMappings: pod}, want: true},
		{desc: "pod file", m: specs.Mount{Type: "bind", Options: []string{"rbind", "rprivate", "ro"}, UIDMappings: pod, GIDMappings: pod}, want: true},
		{desc: "not idmapped", m: specs.Mount{Type: "bind", Options: []string{"rbind"}}},
		{desc: "its own mappings", m: specs.Mount{Type: "bind", UIDMappings: other, GIDMappings: other}},
		{desc: "host to container propagation", m: specs.Mount{Type: "bind", Options: []string{"rbind", "rslave"}, UIDMappings: pod, GIDMappings: pod}},
		{desc: "bidirectional propagation", m: specs.Mount{Type: "bind", Options: []string{"rbind", "rshared"}, UIDMappings: pod, GIDMappings: pod}},
		{desc: "not a bind", m: specs.Mount{Type: "tmpfs", UIDMappings: pod, GIDMappings: pod}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := stageable(spec, &tc.m); got != tc.want {
				t.Fatalf("stageable = %v, want %v", got, tc.want)
			}
		})
	}
}

// fakeAppArmor loads nothing: loaded profiles are listed.
type fakeAppArmor struct {
	enabled bool
	loaded  map[string]bool
	ensured []string
}

func (f *fakeAppArmor) Enabled() bool          { return f.enabled }
func (f *fakeAppArmor) DefaultProfile() string { return "cricket-default" }
func (f *fakeAppArmor) Ensure(_ context.Context, p string) error {
	f.ensured = append(f.ensured, p)
	if !f.loaded[p] {
		return fmt.Errorf("apparmor profile %q is not loaded: %w", p, errdefs.ErrInvalidArgument)
	}
	return nil
}

func TestHostSpecsAppArmor(t *testing.T) {
	tests := []struct {
		desc        string
		aa          *fakeAppArmor
		profile     string
		wantDefault string
		wantEnsured []string
		wantErr     error
	}{
		{desc: "no AppArmor dependency"},
		{desc: "disabled", aa: &fakeAppArmor{}},
		{desc: "enabled, no profile (unconfined or privileged)", aa: &fakeAppArmor{enabled: true}, wantDefault: "cricket-default"},
		{desc: "enabled, loaded profile", aa: &fakeAppArmor{enabled: true, loaded: map[string]bool{"x": true}}, profile: "x", wantDefault: "cricket-default", wantEnsured: []string{"x"}},
		{desc: "enabled, unloaded profile", aa: &fakeAppArmor{enabled: true}, profile: "gone", wantDefault: "cricket-default", wantEnsured: []string{"gone"}, wantErr: errdefs.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			b := &HostSpecs{}
			if tc.aa != nil {
				b.AppArmor = tc.aa
			}
			got := b.appArmor()
			if got.Enabled != (tc.wantDefault != "") || got.DefaultProfile != tc.wantDefault {
				t.Errorf("appArmor() = %+v, want default %q", got, tc.wantDefault)
			}
			if err := b.checkAppArmor(context.Background(), tc.profile); !errors.Is(err, tc.wantErr) {
				t.Fatalf("checkAppArmor: %v, want %v", err, tc.wantErr)
			}
			if tc.aa != nil && fmt.Sprint(tc.aa.ensured) != fmt.Sprint(tc.wantEnsured) {
				t.Errorf("ensured %v, want %v", tc.aa.ensured, tc.wantEnsured)
			}
		})
	}
}

// fakeSELinux puts the pod's level into every container label.
type fakeSELinux struct {
	enabled  bool
	relabels []string
}

func (f *fakeSELinux) Enabled() bool { return f.enabled }
func (f *fakeSELinux) ContainerLabels(o selinux.Options, pod selinux.Labels) (selinux.Labels, error) {
	level := o.Level
	if level == "" {
		level = selinux.Level(pod.Process)
	}
	if strings.Contains(level, "bad") {
		return selinux.Labels{}, fmt.Errorf("bad level: %w", errdefs.ErrInvalidArgument)
	}
	typ := o.Type
	if typ == "" {
		typ = "container_t"
	}
	return selinux.Labels{Process: "system_u:system_r:" + typ + ":" + level, Mount: "system_u:object_r:container_file_t:" + level}, nil
}
func (f *fakeSELinux) Relabel(path, l string) error {
	f.relabels = append(f.relabels, path+"="+l)
	return nil
}

func TestHostSpecsSELinux(t *testing.T) {
	pod := Pod{SELinux: selinux.Labels{Process: "system_u:system_r:container_t:s0:c1,c2", Mount: "system_u:object_r:container_file_t:s0:c1,c2"}}
	input := func(o *runtimeapi.SELinuxOption, mounts ...*runtimeapi.Mount) SpecInput {
		return SpecInput{ID: "c1", Pod: pod, Config: &runtimeapi.ContainerConfig{
			Mounts: mounts,
			Linux:  &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{SelinuxOptions: o}},
		}, MountSources: map[string]string{"/pinned": "/run/b/hostmounts/0"}}
	}
	tests := []struct {
		desc         string
		se           *fakeSELinux
		in           SpecInput
		wantProcess  string
		wantMount    string
		wantRelabels string
		wantErr      error
	}{
		{desc: "no SELinux dependency", in: input(&runtimeapi.SELinuxOption{Type: "spc_t"})},
		{desc: "disabled ignores options and relabels nothing", se: &fakeSELinux{}, in: input(&runtimeapi.SELinuxOption{Level: "bad"}, &runtimeapi.Mount{ContainerPath: "/v", HostPath: "/h", SelinuxRelabel: true})},
		{desc: "no options share the pod's level", se: &fakeSELinux{enabled: true}, in: input(nil),
			wantProcess: "system_u:system_r:container_t:s0:c1,c2", wantMount: "system_u:object_r:container_file_t:s0:c1,c2"},
		{desc: "a type of its own", se: &fakeSELinux{enabled: true}, in: input(&runtimeapi.SELinuxOption{Type: "spc_t"}),
			wantProcess: "system_u:system_r:spc_t:s0:c1,c2", wantMount: "system_u:object_r:container_file_t:s0:c1,c2"},
		{desc: "volumes relabelled when asked, at their pinned path", se: &fakeSELinux{enabled: true}, in: input(nil,
			&runtimeapi.Mount{ContainerPath: "/v", HostPath: "/h", SelinuxRelabel: true},
			&runtimeapi.Mount{ContainerPath: "/pinned", HostPath: "/h2", SelinuxRelabel: true},
			&runtimeapi.Mount{ContainerPath: "/not", HostPath: "/h3"}),
			wantProcess: "system_u:system_r:container_t:s0:c1,c2", wantMount: "system_u:object_r:container_file_t:s0:c1,c2",
			wantRelabels: "[/h=system_u:object_r:container_file_t:s0:c1,c2 /run/b/hostmounts/0=system_u:object_r:container_file_t:s0:c1,c2]"},
		{desc: "bad options are rejected", se: &fakeSELinux{enabled: true}, in: input(&runtimeapi.SELinuxOption{Level: "bad"}), wantErr: errdefs.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			b := &HostSpecs{}
			if tc.se != nil {
				b.SELinux = tc.se
			}
			p, m, err := b.selinuxLabels(context.Background(), tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if p != tc.wantProcess || m != tc.wantMount {
				t.Errorf("labels %q %q, want %q %q", p, m, tc.wantProcess, tc.wantMount)
			}
			if tc.se != nil && tc.wantRelabels != "" && fmt.Sprint(tc.se.relabels) != tc.wantRelabels {
				t.Errorf("relabels %v, want %s", tc.se.relabels, tc.wantRelabels)
			}
			if tc.se != nil && tc.wantRelabels == "" && len(tc.se.relabels) > 0 {
				t.Errorf("relabelled %v", tc.se.relabels)
			}
		})
	}
}
