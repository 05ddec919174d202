package integration

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestHostileWorkdirAndMountTargets runs an image whose working directory
// and mount targets are symlinks out of its rootfs (relative ones climbing
// with "..", absolute ones naming a host dir) and working directories
// through /proc/self/fd (CVE-2024-21626). Each container either fails or
// stays inside its rootfs: the host dir is never written or mounted on,
// and a marker next to the daemon's state is never seen.
func TestHostileWorkdirAndMountTargets(t *testing.T) {
	e := newHostileEnv(t)
	rt := e.d.Runtime()
	outside := outsideDir(t, e.d)
	marker := fmt.Sprintf("hostile-marker-%d", os.Getpid())
	if err := os.WriteFile(filepath.Join(e.d.Dir, marker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(e.d.Dir, "vol")
	if err := os.MkdirAll(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	img := e.image(t, "workdir", v1.Config{WorkingDir: "/work", Env: []string{"PATH=/bin"}},
		tar.Header{Typeflag: tar.TypeSymlink, Name: "work", Linkname: strings.Repeat("../", 12) + strings.TrimPrefix(outside, "/")},
		tar.Header{Typeflag: tar.TypeSymlink, Name: "abs", Linkname: outside},
	)
	pod := testPod(t, "hostile-workdir", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	write := "echo pwned > f; mkdir -p d; echo pwned > d/f; pwd"
	find := "cd ../../../../../../..; find . -maxdepth 5 -name " + marker + " 2>/dev/null | head -1"
	type tc struct {
		desc   string
		mutate func(*runtimeapi.ContainerConfig)
		script string
	}
	cases := []tc{
		{desc: "image workdir climbs out", script: write},
		{desc: "workdir absolute symlink", script: write, mutate: func(c *runtimeapi.ContainerConfig) { c.WorkingDir = "/abs/sub" }},
		{desc: "mount target through absolute symlink", script: "echo pwned > /abs/data/f", mutate: func(c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{HostPath: vol, ContainerPath: "/abs/data"}}
		}},
		{desc: "mount target through climbing symlink", script: "echo pwned > /work/data/f", mutate: func(c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{HostPath: vol, ContainerPath: "/work/data"}}
		}},
		{desc: "mount target through /proc/self/root", script: "true", mutate: func(c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{HostPath: vol, ContainerPath: "/proc/self/root" + outside + "/data"}}
		}},
	}
	for fd := 3; fd <= 9; fd++ {
		cases = append(cases, tc{desc: fmt.Sprintf("workdir /proc/self/fd/%d", fd), script: find, mutate: func(c *runtimeapi.ContainerConfig) {
			c.WorkingDir = fmt.Sprintf("/proc/self/fd/%d", fd)
		}})
	}
	for i, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := testContainer(fmt.Sprintf("c%d", i), tc.script)
			cfg.Image = &runtimeapi.ImageSpec{Image: img}
			if tc.mutate != nil {
				tc.mutate(cfg)
			}
			id, err := createAndStart(rt, podID, pod, cfg)
			defer removeContainer(rt, id)
			if err == nil {
				st := waitExited(t, rt, id)
				out := logMessages(t, filepath.Join(pod.LogDirectory, cfg.LogPath))
				if strings.Contains(out, marker) {
					t.Errorf("container saw the host marker: %q", out)
				}
				t.Logf("ran: exit %d, output %q", st.ExitCode, out)
			} else {
				t.Logf("refused: %v", err)
			}
			checkOutside(t, outside)
		})
	}
}

// TestHostileVolumeSymlinks is issue 5's regression test. A container
// shares a volume with its pod and replaces a directory of it with a
// symlink to a host dir, or races swapping that directory and the symlink;
// a later container that bind-mounts the directory, or mounts into a path
// through it, gets the directory or an error, never the host dir; and a
// pod whose log directory lives in the volume cannot have a container's
// log written through a planted symlink.
func TestHostileVolumeSymlinks(t *testing.T) {
	e := newHostileEnv(t)
	for _, handler := range []string{"", "runc", "crun"} {
		t.Run("handler="+handler, func(t *testing.T) {
			if why := handlerAvailable(handler); why != "" {
				t.Skip(why)
			}
			testHostileVolumeSymlinks(t, e, handler)
		})
	}
}

func testHostileVolumeSymlinks(t *testing.T, e *hostileEnv, handler string) {
	rt := e.d.Runtime()
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("safe"), 0o644); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(base, "vol")
	for _, d := range []string{filepath.Join(vol, "sub"), filepath.Join(vol, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(vol, "sub", "inside"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pod := testPod(t, "hostile-volume"+handler, runtimeapi.NamespaceMode_POD)
	pod.LogDirectory = filepath.Join(vol, "logs")
	podID := runPod(t, rt, pod, handler)
	defer func() {
		_, _ = rt.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
	}()
	volMount := &runtimeapi.Mount{HostPath: vol, ContainerPath: "/vol"}
	attacker := testContainer("attacker", "sleep 1000")
	attacker.Mounts = []*runtimeapi.Mount{volMount}
	aID := startContainer(t, rt, podID, pod, attacker)

	// ls prints what the victim sees: "inside" for the volume's dir,
	// "secret" for the host dir.
	victim := func(name string, mounts ...*runtimeapi.Mount) (string, error) {
		cfg := testContainer(name, "ls /data")
		cfg.Mounts = mounts
		id, err := createAndStart(rt, podID, pod, cfg)
		defer removeContainer(rt, id)
		if err != nil {
			return "", err
		}
		if _, err := awaitExit(rt, id); err != nil {
			t.Error(err)
		}
		return logMessages(t, filepath.Join(pod.LogDirectory, cfg.LogPath)), nil
	}

	t.Run("dir replaced by symlink before create", func(t *testing.T) {
		execSync(t, rt, aID, "sh", "-c", "mv /vol/sub /vol/sub.real && ln -s "+outside+" /vol/sub")
		defer execSync(t, rt, aID, "sh", "-c", "rm /vol/sub && mv /vol/sub.real /vol/sub")
		out, err := victim("v-before", &runtimeapi.Mount{HostPath: filepath.Join(vol, "sub"), ContainerPath: "/data", Readonly: true})
		if err == nil {
			t.Errorf("mount of a planted symlink succeeded, container sees %q", out)
		}
		if strings.Contains(out, "secret") {
			t.Errorf("host dir mounted into the container: %q", out)
		}
		checkOutside(t, outside)
	})

	t.Run("mount target through a planted symlink", func(t *testing.T) {
		execSync(t, rt, aID, "sh", "-c", "ln -s "+outside+" /vol/link")
		defer execSync(t, rt, aID, "rm", "/vol/link")
		cfg := testContainer("v-target", "ls /vol/link/data; echo pwned > /vol/link/data/f")
		cfg.Mounts = []*runtimeapi.Mount{volMount, {HostPath: filepath.Join(vol, "sub"), ContainerPath: "/vol/link/data"}}
		id, err := createAndStart(rt, podID, pod, cfg)
		defer removeContainer(rt, id)
		if err == nil {
			waitExited(t, rt, id)
		}
		t.Logf("create/start: %v", err)
		checkOutside(t, outside)
	})

	t.Run("log path through a planted symlink", func(t *testing.T) {
		execSync(t, rt, aID, "sh", "-c", "ln -s "+outside+" /vol/logs/victim")
		defer execSync(t, rt, aID, "rm", "/vol/logs/victim")
		for _, logPath := range []string{"victim/0.log", "victim/new/0.log", "victim/secret"} {
			cfg := testContainer("v-log", "echo pwned")
			cfg.LogPath = logPath
			id, err := createAndStart(rt, podID, pod, cfg)
			if err == nil {
				waitExited(t, rt, id)
				t.Errorf("container with log path %s through a symlink out started", logPath)
			}
			removeContainer(rt, id)
			checkOutside(t, outside)
		}
	})

	t.Run("dir and symlink swapped while containers start", func(t *testing.T) {
		// The attacker flips /vol/sub between the directory and a symlink
		// to the host dir as fast as it can.
		flip := "while :; do mv /vol/sub /vol/sub.real; ln -s " + outside + " /vol/sub; rm /vol/sub; mv /vol/sub.real /vol/sub; done"
		fID := startContainer(t, rt, podID, pod, func() *runtimeapi.ContainerConfig {
			c := testContainer("flipper", flip)
			c.Mounts = []*runtimeapi.Mount{volMount}
			return c
		}())
		var inside, refused atomic.Int32
		var wg sync.WaitGroup
		deadline := time.Now().Add(20 * time.Second)
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 12 && time.Now().Before(deadline); i++ {
					out, err := victim(fmt.Sprintf("race-%d-%d", w, i), &runtimeapi.Mount{HostPath: filepath.Join(vol, "sub"), ContainerPath: "/data"})
					switch {
					case err != nil:
						refused.Add(1)
					case strings.Contains(out, "secret"):
						t.Errorf("race %d/%d: the host dir was mounted: %q", w, i, out)
					default:
						inside.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		_, _ = rt.StopContainer(context.Background(), &runtimeapi.StopContainerRequest{ContainerId: fID, Timeout: 1})
		removeContainer(rt, fID)
		t.Logf("racing containers: %d saw the volume's dir, %d were refused", inside.Load(), refused.Load())
		checkOutside(t, outside)
	})
}

// TestHostilePinnedMountsReleasedAfterStart: the host paths pinned at
// create are released once the container has its own mounts, so the host
// can still unmount and remove a directory that was a mount point below a
// bind-mounted path while the container runs (critest's readonly-mount
// specs do this), and nothing stays mounted in the daemon's state dir.
func TestHostilePinnedMountsReleasedAfterStart(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	vol := filepath.Join(d.Dir, "vol")
	sub := filepath.Join(vol, "tmpfs")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(sub, syscall.MNT_DETACH) })
	pod := testPod(t, "hostile-pins", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	cfg := testContainer("pinned", "sleep 1000")
	cfg.Mounts = []*runtimeapi.Mount{{HostPath: vol, ContainerPath: "/vol", Readonly: true}}
	id := startContainer(t, rt, podID, pod, cfg)
	if got := execSync(t, rt, id, "sh", "-c", "grep -c ' /vol/tmpfs ' /proc/self/mountinfo"); got != "1" {
		t.Errorf("the container does not see the submount: %q", got)
	}
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if strings.Contains(line, d.State) && strings.Contains(line, "hostmounts") {
			t.Errorf("pin left mounted after start: %s", line)
		}
	}
	if err := syscall.Unmount(sub, 0); err != nil {
		t.Fatalf("unmount the host's submount: %v", err)
	}
	if err := os.Remove(sub); err != nil {
		t.Errorf("remove the host dir that was a mount point: %v", err)
	}
}
