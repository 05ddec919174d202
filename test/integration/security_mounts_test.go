package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// hostDir makes a directory holding file "f" (content "hello") for a
// bind mount, removed when the test ends.
func hostDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// hostMount runs mount(8) on the host and unmounts target when the test
// ends (lazily: a container may still hold it).
func hostMount(t *testing.T, target string, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Fatalf("mount %v: %v: %s", args, err, out)
	}
	t.Cleanup(func() { _ = unix.Unmount(target, unix.MNT_DETACH) })
}

// sharedHostDir is hostDir bind-mounted on itself as a shared mount, so
// that mounts below it propagate.
func sharedHostDir(t *testing.T) string {
	t.Helper()
	dir := hostDir(t)
	hostMount(t, dir, "--bind", dir, dir)
	if out, err := exec.Command("mount", "--make-shared", dir).CombinedOutput(); err != nil {
		t.Fatalf("make-shared %s: %v: %s", dir, err, out)
	}
	return dir
}

// hostHasMount reports whether the host (this test's mount namespace) has
// a mount at target.
func hostHasMount(t *testing.T, target string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == target {
			return true
		}
	}
	return false
}

// optionalFields returns the propagation tags of a mountinfo line
// ("shared:N", "master:N").
func optionalFields(line string) []string {
	f := strings.Fields(line)
	var out []string
	for i := 6; i < len(f) && f[i] != "-"; i++ {
		out = append(out, f[i])
	}
	return out
}

func hasTag(line, prefix string) bool {
	for _, f := range optionalFields(line) {
		if strings.HasPrefix(f, prefix) {
			return true
		}
	}
	return false
}

func addMount(m *runtimeapi.Mount) func(*testing.T, *secEnv, *runtimeapi.ContainerConfig) {
	return func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) { c.Mounts = append(c.Mounts, m) }
}

// handlerRRO reports whether the daemon advertises recursive read-only
// mounts for e's handler.
func handlerRRO(e *secEnv) bool {
	resp, err := e.rt.Status(context.Background(), &runtimeapi.StatusRequest{})
	if err != nil {
		return false
	}
	for _, h := range resp.GetRuntimeHandlers() {
		if h.GetName() == e.h.handler {
			return h.GetFeatures().GetRecursiveReadOnlyMounts()
		}
	}
	return false
}

const crunHybridSlave = "crun runs through deploy/hybrid/crun-hybrid here: its mount namespace is a slave of the host's, so a container's mounts cannot reach the host"

// TestSecurityMounts covers CRI mounts on every handler: host bind mounts
// (plain, symlinked, read-only, file; missing ones: TestCompat), the three propagation
// modes, recursive_read_only and its rejections, mount_options, and image
// volumes with image_sub_path.
func TestSecurityMounts(t *testing.T) {
	d := startSecurityDaemon(t, "")
	// Each case makes its own host directories through ctr; check reads
	// them back through the container config's mounts.
	hostPathOf := func(t *testing.T, e *secEnv, id, ctrPath string) string {
		t.Helper()
		resp, err := e.rt.ContainerStatus(context.Background(), &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range resp.GetStatus().GetMounts() {
			if m.GetContainerPath() == ctrPath {
				return m.GetHostPath()
			}
		}
		t.Fatalf("container has no mount at %s", ctrPath)
		return ""
	}
	cases := []fieldCase{
		{desc: "host bind mount", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/vol", HostPath: hostDir(t)})
		}, check: func(t *testing.T, e *secEnv, id string) {
			e.wantSh(t, id, "cat /mnt/vol/f", "hello")
			e.mustSh(t, id, "echo from-ctr > /mnt/vol/g")
			if got := hostFile(t, filepath.Join(hostPathOf(t, e, id, "/mnt/vol"), "g")); got != "from-ctr" {
				t.Errorf("host sees %q", got)
			}
		}},
		{desc: "host bind mount of a file", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/etc/cricket-file", HostPath: filepath.Join(hostDir(t), "f"), Readonly: true})
		}, check: func(t *testing.T, e *secEnv, id string) {
			e.wantSh(t, id, "cat /etc/cricket-file", "hello")
		}},
		{desc: "symlinked host path is resolved", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			link := filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(hostDir(t), link); err != nil {
				t.Fatal(err)
			}
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/link", HostPath: link})
		}, check: func(t *testing.T, e *secEnv, id string) {
			e.wantSh(t, id, "cat /mnt/link/f", "hello")
			if l := e.mountLine(t, id, "/mnt/link"); l == "" {
				t.Error("/mnt/link is not a mount")
			}
		}},
		{desc: "relative container path is rejected", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "mnt/rel", HostPath: hostDir(t)})
		}, wantCode: codes.InvalidArgument, wantErr: "absolute"},
		{desc: "readonly", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/ro", HostPath: hostDir(t), Readonly: true})
		}, check: func(t *testing.T, e *secEnv, id string) {
			e.wantSh(t, id, "cat /mnt/ro/f", "hello")
			e.wantFails(t, id, "touch /mnt/ro/x", "Read-only file system")
		}},
		{desc: "propagation PRIVATE", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/priv", HostPath: sharedHostDir(t),
				Propagation: runtimeapi.MountPropagation_PROPAGATION_PRIVATE})
		}, check: func(t *testing.T, e *secEnv, id string) {
			if l := e.mountLine(t, id, "/mnt/priv"); hasTag(l, "shared:") || hasTag(l, "master:") {
				t.Errorf("private mount has propagation tags: %s", l)
			}
			src := hostPathOf(t, e, id, "/mnt/priv")
			hostMount(t, filepath.Join(src, "sub"), "-t", "tmpfs", "tmpfs", filepath.Join(src, "sub"))
			if e.mountLine(t, id, "/mnt/priv/sub") != "" {
				t.Error("a host mount reached a private mount")
			}
		}},
		{desc: "propagation HOST_TO_CONTAINER", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/h2c", HostPath: sharedHostDir(t),
				Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER})
		}, check: func(t *testing.T, e *secEnv, id string) {
			if l := e.mountLine(t, id, "/mnt/h2c"); !hasTag(l, "master:") {
				t.Errorf("HOST_TO_CONTAINER mount is not a slave: %s", l)
			}
			src := hostPathOf(t, e, id, "/mnt/h2c")
			hostMount(t, filepath.Join(src, "sub"), "-t", "tmpfs", "tmpfs", filepath.Join(src, "sub"))
			if e.mountLine(t, id, "/mnt/h2c/sub") == "" {
				t.Error("a host mount did not reach the container")
			}
		}},
		{desc: "propagation BIDIRECTIONAL", pod: podPrivileged, skip: func(e *secEnv) string {
			if e.h.name == "crun" && crunNeedsWrapper() {
				return crunHybridSlave
			}
			return ""
		}, ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).Privileged = true
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/bi", HostPath: sharedHostDir(t),
				Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL})
		}, check: func(t *testing.T, e *secEnv, id string) {
			if l := e.mountLine(t, id, "/mnt/bi"); !hasTag(l, "shared:") {
				t.Errorf("BIDIRECTIONAL mount is not shared: %s", l)
			}
			src := hostPathOf(t, e, id, "/mnt/bi")
			t.Cleanup(func() { _ = unix.Unmount(filepath.Join(src, "sub"), unix.MNT_DETACH) })
			e.mustSh(t, id, "mount -t tmpfs ctr-tmpfs /mnt/bi/sub")
			if !hostHasMount(t, filepath.Join(src, "sub")) {
				t.Error("the container's mount did not reach the host")
			}
		}},
		{desc: "recursive_read_only", skip: func(e *secEnv) string {
			if !handlerRRO(e) {
				return "the handler does not advertise recursive_read_only_mounts (see the rejection case)"
			}
			return ""
		}, ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			dir := hostDir(t)
			hostMount(t, filepath.Join(dir, "sub"), "-t", "tmpfs", "tmpfs", filepath.Join(dir, "sub"))
			c.Mounts = append(c.Mounts,
				&runtimeapi.Mount{ContainerPath: "/mnt/rro", HostPath: dir, Readonly: true, RecursiveReadOnly: true},
				&runtimeapi.Mount{ContainerPath: "/mnt/ro", HostPath: dir, Readonly: true})
		}, check: func(t *testing.T, e *secEnv, id string) {
			e.wantFails(t, id, "touch /mnt/rro/sub/x", "Read-only file system")
			e.mustSh(t, id, "touch /mnt/ro/sub/x") // plain readonly is not recursive
		}},
		{desc: "recursive_read_only unsupported by the handler is rejected", skip: func(e *secEnv) string {
			if handlerRRO(e) {
				return "the handler supports recursive_read_only"
			}
			return ""
		}, ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/rro", HostPath: hostDir(t), Readonly: true, RecursiveReadOnly: true})
		}, wantCode: codes.InvalidArgument, wantErr: "not supported"},
		{desc: "recursive_read_only without readonly is rejected", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/rro", HostPath: hostDir(t), RecursiveReadOnly: true})
		}, wantCode: codes.InvalidArgument, wantErr: "requires readonly"},
		{desc: "recursive_read_only with HOST_TO_CONTAINER is rejected", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/rro", HostPath: hostDir(t), Readonly: true, RecursiveReadOnly: true,
				Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER})
		}, wantCode: codes.InvalidArgument, wantErr: "requires private propagation"},
		{desc: "mount_options", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			dir := hostDir(t)
			if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			c.Mounts = append(c.Mounts,
				&runtimeapi.Mount{ContainerPath: "/mnt/opts", HostPath: dir, MountOptions: []string{"noexec", "nosuid", "nodev"}},
				&runtimeapi.Mount{ContainerPath: "/mnt/exec", HostPath: dir})
		}, check: func(t *testing.T, e *secEnv, id string) {
			l := e.mountLine(t, id, "/mnt/opts")
			for _, o := range []string{"noexec", "nosuid", "nodev"} {
				if !hasOpt(l, o) {
					t.Errorf("/mnt/opts lacks %s: %s", o, l)
				}
			}
			e.wantFails(t, id, "/mnt/opts/run.sh", "Permission denied")
			e.wantSh(t, id, "/mnt/exec/run.sh", "ran")
		}},
		{desc: "mount_options other than noexec nosuid nodev are rejected", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/opts", HostPath: hostDir(t), Readonly: true, MountOptions: []string{"rw"}})
		}, wantCode: codes.InvalidArgument, wantErr: "mount option"},
		{desc: "image volume", ctr: addMount(&runtimeapi.Mount{ContainerPath: "/iv", Readonly: true, Image: &runtimeapi.ImageSpec{Image: imgVolume}}),
			check: func(t *testing.T, e *secEnv, id string) {
				e.mustSh(t, id, "test -f /iv"+imgVolumeMarker)
				e.wantFails(t, id, "touch /iv/x", "Read-only file system")
				if st := containerStatus(t, e.rt, id); len(st.GetMounts()) == 0 || st.GetMounts()[0].GetImage().GetImage() == "" {
					t.Errorf("status mounts = %v, want the image volume's image", st.GetMounts())
				}
			}},
		{desc: "image volume image_sub_path", ctr: addMount(&runtimeapi.Mount{ContainerPath: "/iv", Readonly: true, Image: &runtimeapi.ImageSpec{Image: imgVolume}, ImageSubPath: "bin"}),
			check: func(t *testing.T, e *secEnv, id string) {
				e.mustSh(t, id, "test -x /iv/busybox")
				e.wantFails(t, id, "test -e /iv"+imgVolumeMarker, "")
			}},
		{desc: "image volume missing image_sub_path is rejected", ctr: addMount(&runtimeapi.Mount{ContainerPath: "/iv", Readonly: true, Image: &runtimeapi.ImageSpec{Image: imgVolume}, ImageSubPath: "no/such/dir"}),
			wantCode: codes.InvalidArgument, wantErr: "no/such/dir"},
		{desc: "image volume escaping image_sub_path stays inside", ctr: addMount(&runtimeapi.Mount{ContainerPath: "/iv", Readonly: true, Image: &runtimeapi.ImageSpec{Image: imgVolume}, ImageSubPath: "../../../../../../etc"}),
			check: func(t *testing.T, e *secEnv, id string) {
				// Resolved inside the image: its /etc, not the host's.
				e.mustSh(t, id, "grep -q www-data /iv/passwd")
				if _, code := e.sh(t, id, "test -e /iv/machine-id -o -e /iv/debian_version"); code == 0 {
					t.Error("image_sub_path reached the host's /etc")
				}
			}},
		{desc: "image volume of a missing image is rejected", ctr: addMount(&runtimeapi.Mount{ContainerPath: "/iv", Readonly: true, Image: &runtimeapi.ImageSpec{Image: "registry.k8s.io/no/such:image"}}),
			wantCode: codes.NotFound},
	}
	runFieldCases(t, d, cases)
	t.Run("Status advertises mount_options", func(t *testing.T) {
		resp, err := d.Runtime().Status(context.Background(), &runtimeapi.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if !resp.GetFeatures().GetMountOptions() {
			t.Errorf("features = %v", resp.GetFeatures())
		}
	})
}
