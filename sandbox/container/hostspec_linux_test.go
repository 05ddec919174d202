package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/pkg/podfiles"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/selinux"
	"github.com/cricket-cri/cricket/test/testutil"
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
	privileged := input(nil)
	privileged.Config.Linux.SecurityContext.Privileged = true
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
		// Found in the enforcing test/vm node: a privileged container
		// ran confined (container_t); the policy gives it spc_t when it
		// has no process label.
		{desc: "privileged: no process label", se: &fakeSELinux{enabled: true}, in: privileged,
			wantMount: "system_u:object_r:container_file_t:s0:c1,c2"},
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
			l, err := b.SELinuxLabels(context.Background(), tc.in.Config, tc.in.Pod)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if l.Process != tc.wantProcess || l.Mount != tc.wantMount {
				t.Errorf("labels %q %q, want %q %q", l.Process, l.Mount, tc.wantProcess, tc.wantMount)
			}
			if err != nil {
				return
			}
			tc.in.SELinux = l
			if err := b.relabelMounts(tc.in); err != nil {
				t.Fatal(err)
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

// isTmpfs reports whether p is on a tmpfs.
func isTmpfs(t *testing.T, p string) bool {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Type == unix.TMPFS_MAGIC
}

// tmpfsAndDisk returns a dir on a tmpfs (one mounted for the test as root,
// else the host's /dev/shm) and one that is not (the package's dir).
func tmpfsAndDisk(t *testing.T) (tmpfs, disk string) {
	t.Helper()
	disk, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	if isTmpfs(t, disk) {
		t.Skip("the checkout is on a tmpfs: no dir off tmpfs to compare with")
	}
	if os.Geteuid() == 0 {
		tmpfs = filepath.Join(t.TempDir(), "tmpfs")
		if err := os.Mkdir(tmpfs, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", tmpfs, "tmpfs", 0, "size=64k"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unix.Unmount(tmpfs, unix.MNT_DETACH) })
		return tmpfs, disk
	}
	if !isTmpfs(t, "/dev/shm") {
		t.Skip("not root and /dev/shm is not a tmpfs: no tmpfs to look at")
	}
	return "/dev/shm", disk
}

// TestCheckTmpfsIDMaps: on a kernel that cannot idmap tmpfs (a fake
// probe: this host's kernel may well idmap it), an idmapped tmpfs mount is
// refused as FailedPrecondition naming the mount; other mounts, and every
// mount on a kernel that can, pass.
func TestCheckTmpfsIDMaps(t *testing.T) {
	tmpfs, disk := tmpfsAndDisk(t)
	ids := []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
	idmapped := func(dst, src string, opts ...string) specs.Mount {
		return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: append([]string{"rbind"}, opts...), UIDMappings: ids, GIDMappings: ids}
	}
	can, cannot := func(context.Context) bool { return true }, func(context.Context) bool { return false }
	tests := []struct {
		desc    string
		probe   func(context.Context) bool
		mounts  []specs.Mount
		wantErr string
	}{
		{desc: "no probe: nothing checked", mounts: []specs.Mount{idmapped("/secret", tmpfs)}},
		{desc: "kernel idmaps tmpfs", probe: can, mounts: []specs.Mount{idmapped("/secret", tmpfs)}},
		{desc: "kernel cannot: idmapped tmpfs volume", probe: cannot, mounts: []specs.Mount{idmapped("/data", disk), idmapped("/secret", tmpfs)}, wantErr: "mount /secret: " + tmpfs + " is a tmpfs"},
		{desc: "kernel cannot: idmapped volume off tmpfs", probe: cannot, mounts: []specs.Mount{idmapped("/data", disk, "rprivate")}},
		{desc: "kernel cannot: the pod's own shm, not idmapped", probe: cannot, mounts: []specs.Mount{{Destination: "/dev/shm", Type: "bind", Source: tmpfs, Options: []string{"rbind", "rw"}}}},
		{desc: "kernel cannot: idmapped with propagation (the runtime idmaps it)", probe: cannot, mounts: []specs.Mount{idmapped("/secret", tmpfs, "rslave")}, wantErr: "mount /secret: "},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			b := &HostSpecs{TmpfsIDMap: tc.probe}
			err := b.checkTmpfsIDMaps(context.Background(), &specs.Spec{Mounts: tc.mounts})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("checkTmpfsIDMaps: %v", err)
				}
				return
			}
			if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("checkTmpfsIDMaps: %v, want a FailedPrecondition with %q", err, tc.wantErr)
			}
		})
	}
}

// TestTmpfsBelow: a recursive bind is refused for a tmpfs mounted below
// its source; a plain bind of the same source is not.
func TestTmpfsBelow(t *testing.T) {
	testutil.RequireRoot(t)
	base := t.TempDir()
	if isTmpfs(t, base) {
		t.Skip("the temp dir is on a tmpfs: no dir off tmpfs to mount one below")
	}
	sub := filepath.Join(base, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sub, unix.MNT_DETACH) })
	if got, err := tmpfsIn(base, true); err != nil || got != sub {
		t.Errorf("tmpfsIn(%s, recursive) = %q, %v; want %s", base, got, err, sub)
	}
	if got, err := tmpfsIn(base, false); err != nil || got != "" {
		t.Errorf("tmpfsIn(%s, not recursive) = %q, %v; want none", base, got, err)
	}
	if _, err := tmpfsIn(filepath.Join(base, "missing"), false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tmpfsIn of a missing path: %v", err)
	}
}

// TestBuildRefusesIDMappedTmpfs: Build, for a container of a pod with a
// user namespace on a kernel that cannot idmap tmpfs (a fake probe), fails
// with FailedPrecondition naming the tmpfs volume, before any mount.
func TestBuildRefusesIDMappedTmpfs(t *testing.T) {
	tmpfs, _ := tmpfsAndDisk(t)
	ids := []*runtimeapi.IDMapping{{HostId: 100000, Length: 65536}}
	ns := &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER, UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: ids, Gids: ids}}
	probed := 0
	b := &HostSpecs{
		Handlers:       fakeHandlers{"": runtime.Handler{Name: "cricket", Kind: runtime.KindBuiltin}},
		UserNamespaces: func(context.Context, string) bool { return true },
		TmpfsIDMap:     func(context.Context) bool { probed++; return false },
		IDMapDir:       t.TempDir(),
	}
	in := SpecInput{
		ID: "c1", Rootfs: t.TempDir(),
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "c"}, Command: []string{"/bin/true"},
			Mounts: []*runtimeapi.Mount{{ContainerPath: "/secret", HostPath: tmpfs}},
			Linux:  &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: ns}},
		},
		Pod: Pod{
			Config:     &runtimeapi.PodSandboxConfig{Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: ns}}},
			Namespaces: oci.NamespacePaths{Network: "/run/ns/net", IPC: "/run/ns/ipc", UTS: "/run/ns/uts", User: "/run/ns/user"},
			Files:      podfiles.Paths{Shm: tmpfs, PodOwned: true},
		},
	}
	_, err := b.Build(context.Background(), in)
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "mount /secret: ") {
		t.Fatalf("Build: %v, want a FailedPrecondition for /secret", err)
	}
	if probed != 1 {
		t.Errorf("probe asked %d times", probed)
	}
	if staged, _ := os.ReadDir(b.IDMapDir); len(staged) > 0 {
		t.Errorf("mounts staged for a refused container: %v", staged)
	}
}
