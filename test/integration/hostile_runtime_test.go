package integration

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestHostileDeviceNodes runs an image whose layer carries device nodes
// of the host's memory, disk and null devices, world-readable. A
// non-privileged container can open none of them, nor one it makes itself
// with mknod: the device cgroup denies what was not asked for.
func TestHostileDeviceNodes(t *testing.T) {
	e := newHostileEnv(t)
	rt := e.d.Runtime()
	dev := func(name string, typ byte, major, minor int64) tar.Header {
		return tar.Header{Typeflag: typ, Name: name, Mode: 0o666, Devmajor: major, Devminor: minor}
	}
	img := e.image(t, "devices", v1.Config{Env: []string{"PATH=/bin"}},
		dev("mem", tar.TypeChar, 1, 1), dev("kmsg", tar.TypeChar, 1, 11), dev("sda", tar.TypeBlock, 8, 0), dev("loop", tar.TypeBlock, 7, 0))
	pod := testPod(t, "hostile-devices", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	// Reads one byte (never writes) from each node and says what happened.
	script := `for n in /mem /kmsg /sda /loop; do if head -c 1 $n >/dev/null 2>&1; then echo "OPENED $n"; else echo "denied $n"; fi; done
if mknod /tmp/mem2 c 1 1 2>/dev/null; then if head -c 1 /tmp/mem2 >/dev/null 2>&1; then echo "OPENED /tmp/mem2"; else echo "denied /tmp/mem2"; fi; else echo "denied mknod"; fi`
	cfg := testContainer("devices", script)
	cfg.Image = &runtimeapi.ImageSpec{Image: img}
	id := startContainer(t, rt, podID, pod, cfg)
	waitExited(t, rt, id)
	out := logMessages(t, filepath.Join(pod.LogDirectory, cfg.LogPath))
	if strings.Contains(out, "OPENED") || strings.Count(out, "denied") != 5 {
		t.Errorf("device nodes of the image were usable:\n%s", out)
	}
}

// TestHostileMaskedPathsThroughMounts bind-mounts paths that the default
// confinement masks or makes read-only: the host's /proc elsewhere
// (read-only), a host file onto /proc/kcore and a host dir onto
// /sys/firmware. Each is refused or stays masked: kcore cannot be read,
// the host's sysctls cannot be written, and the masked paths show nothing.
func TestHostileMaskedPathsThroughMounts(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	fake := filepath.Join(d.Dir, "kcore")
	firmware := filepath.Join(d.Dir, "firmware")
	if err := os.WriteFile(fake, []byte("LEAKED"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(firmware, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(firmware, "LEAKED"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	hostname, _ := os.ReadFile("/proc/sys/kernel/hostname")
	pod := testPod(t, "hostile-masked", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	for i, tc := range []struct {
		desc   string
		mount  *runtimeapi.Mount
		script string
	}{
		{desc: "host /proc elsewhere", mount: &runtimeapi.Mount{HostPath: "/proc", ContainerPath: "/hostproc", Readonly: true},
			script: `if head -c 1 /hostproc/kcore >/dev/null 2>&1; then echo LEAKED kcore; fi
if echo pwned > /hostproc/sys/kernel/hostname 2>/dev/null; then echo LEAKED sysctl; fi`},
		{desc: "file onto /proc/kcore", mount: &runtimeapi.Mount{HostPath: fake, ContainerPath: "/proc/kcore", Readonly: true},
			script: `cat /proc/kcore 2>/dev/null | head -c 6`},
		{desc: "dir onto /sys/firmware", mount: &runtimeapi.Mount{HostPath: firmware, ContainerPath: "/sys/firmware", Readonly: true},
			script: `ls /sys/firmware 2>/dev/null`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := testContainer(fmt.Sprintf("m%d", i), tc.script)
			cfg.Mounts = []*runtimeapi.Mount{tc.mount}
			id, err := createAndStart(rt, podID, pod, cfg)
			defer removeContainer(rt, id)
			if err != nil {
				t.Logf("refused: %v", err)
				return
			}
			waitExited(t, rt, id)
			if out := logMessages(t, filepath.Join(pod.LogDirectory, cfg.LogPath)); strings.Contains(out, "LEAKED") {
				t.Errorf("masked path reached through a mount: %q", out)
			}
		})
	}
	if now, _ := os.ReadFile("/proc/sys/kernel/hostname"); string(now) != string(hostname) {
		t.Errorf("host name changed from %q to %q", hostname, now)
	}
}

// TestHostileProcExe is the CVE-2019-5736 class: while the test execs into
// a container again and again (each exec briefly runs the runtime's own
// binary inside the container's pid namespace), the container opens
// /proc/<pid>/exe of every process it can see and tries to write through
// it, holding the descriptor until the process is gone. cricketd (which is
// also the shim) must be unchanged on disk and nothing may report a write.
func TestHostileProcExe(t *testing.T) {
	d := startPodDaemon(t)
	rt := d.Runtime()
	before := fileSum(t, cricketdBin)
	pod := testPod(t, "hostile-exe", runtimeapi.NamespaceMode_POD)
	podID := runPod(t, rt, pod, "")
	// Each line names the file by device:inode, which are the same seen
	// from the container and from the host.
	attack := `while :; do for p in /proc/[0-9]*; do
  ( exec 3< $p/exe || exit 0
    id=$(stat -L -c %d:%i /proc/self/fd/3); echo "opened $id $(readlink $p/exe)"
    for i in 1 2 3 4 5 6 7 8 9 10; do
      if echo pwned >> /proc/self/fd/3; then echo "WROTE $id"; fi
      if echo pwned > $p/exe; then echo "WROTE $id"; fi
      usleep 5000
    done ) 2>/dev/null &
done; usleep 50000; done`
	aID := startContainer(t, rt, podID, pod, testContainer("attacker", attack))
	deadline := time.Now().Add(15 * time.Second)
	execs := 0
	for time.Now().Before(deadline) && execs < 40 {
		resp, err := rt.ExecSync(context.Background(), &runtimeapi.ExecSyncRequest{ContainerId: aID, Cmd: []string{"sh", "-c", "usleep 50000"}, Timeout: 10})
		if err != nil || resp.ExitCode != 0 {
			t.Logf("exec %d: %v %v", execs, err, resp)
		}
		execs++
		if execs%10 == 0 {
			other := testContainer(fmt.Sprintf("other%d", execs), "true")
			if id, err := createAndStart(rt, podID, pod, other); err == nil {
				waitExited(t, rt, id)
				removeContainer(rt, id)
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	if after := fileSum(t, cricketdBin); after != before {
		t.Fatalf("cricketd binary %s changed", cricketdBin)
	}
	out := logMessages(t, filepath.Join(pod.LogDirectory, "attacker.log"))
	var st syscall.Stat_t
	if err := syscall.Stat(cricketdBin, &st); err != nil {
		t.Fatal(err)
	}
	host := fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	opened, wrote := map[string]int{}, map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "opened "); ok {
			opened[rest]++
			if id, _, _ := strings.Cut(rest, " "); id == host {
				t.Errorf("the container opened the host's cricketd (%s) through /proc/<pid>/exe", host)
			}
		}
		if id, ok := strings.CutPrefix(line, "WROTE "); ok {
			wrote[id]++
			if id == host {
				t.Errorf("the container wrote to the host's cricketd (%s) through /proc/<pid>/exe", host)
			}
		}
	}
	if len(opened) == 0 {
		t.Errorf("the attack never opened a /proc/<pid>/exe; the test proves nothing:\n%.2000s", out)
	}
	t.Logf("%d execs under attack; cricketd is %s and unchanged; exe files opened: %v; written (copies of the container's or the runtime's, never the host's): %v", execs, host, opened, wrote)
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
