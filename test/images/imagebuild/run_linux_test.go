package imagebuild

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/cricket-cri/cricket/test/testutil"
)

// These tests run the stand-ins inside extracted images, in fresh PID, net
// and mount namespaces with chroot. They need root and util-linux's unshare,
// and are skipped otherwise (and with -short).

func requireRoot(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	for _, tool := range []string{"unshare", "chroot", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

// extract unpacks the flattened linux/amd64 filesystem of ref into a temp dir.
func extract(t *testing.T, ref string) string {
	t.Helper()
	root := t.TempDir()
	rc := mutate.Extract(platformImage(t, buildSpec(t, mustSpec(t, ref))))
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			err = writeFile(p, tr)
		case tar.TypeLink:
			err = os.Link(filepath.Join(root, h.Linkname), p)
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		}
		if err == nil && h.Typeflag != tar.TypeSymlink && h.Typeflag != tar.TypeLink {
			if err = os.Lchown(p, h.Uid, h.Gid); err == nil {
				err = os.Chmod(p, h.FileInfo().Mode())
			}
		}
		if err != nil {
			t.Fatalf("extract %s: %v", h.Name, err)
		}
	}
	for _, d := range []string{"proc", "dev"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func writeFile(p string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runIn runs script with the image's /bin/sh in new PID, net and mount
// namespaces chrooted into root; every process dies with the namespace.
func runIn(t *testing.T, root, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	setup := "mount -t proc proc " + root + "/proc && mount --rbind /dev " + root + "/dev && exec chroot " + root +
		" /bin/sh -c 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; ip link set lo up; . /test.sh'"
	if err := os.WriteFile(filepath.Join(root, "test.sh"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "unshare", "--pid", "--net", "--mount", "--fork", "sh", "-c", setup).CombinedOutput()
	if err != nil {
		t.Fatalf("run in %s: %v\n%s", root, err, out)
	}
	return string(out)
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("output lacks %q:\n%s", l, out)
		}
	}
}

func TestRunNginxStandin(t *testing.T) {
	requireRoot(t)
	root := extract(t, e2e+"nginx:1.14-2")
	out := runIn(t, root, `
nginx -g 'daemon off;' &
while [ ! -f /var/run/nginx.pid ]; do sleep 0.1; done
pid=$(cat /var/run/nginx.pid)
[ "$(pidof nginx)" = "$pid" ] && echo pidof=ok
grep -q "master process" /proc/$pid/cmdline && echo cmdline=ok
echo comm=$(cat /proc/$pid/comm)
for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:80/ >/tmp/page 2>/dev/null && break; sleep 0.2; done
grep -q "Welcome to nginx!" /tmp/page && echo page=ok
kill -TERM $pid; sleep 0.5
[ -z "$(pidof nginx)" ] && [ ! -f /var/run/nginx.pid ] && echo stopped=ok
`)
	wantLines(t, out, "pidof=ok", "cmdline=ok", "comm=nginx", "page=ok", "stopped=ok")
}

func TestRunHostnetNginxListensOn12003(t *testing.T) {
	requireRoot(t)
	root := extract(t, critools+"hostnet-nginx-amd64:latest")
	out := runIn(t, root, `
nginx -g 'daemon off;' &
for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:12003/ >/tmp/page 2>/dev/null && break; sleep 0.2; done
grep -q "Welcome to nginx!" /tmp/page && echo page=ok
wget -qO- http://127.0.0.1:80/ >/dev/null 2>&1 || echo port80=closed
`)
	wantLines(t, out, "page=ok", "port80=closed")
}

func TestRunHttpdStandin(t *testing.T) {
	requireRoot(t)
	root := extract(t, e2e+"httpd:2.4.39-4")
	out := runIn(t, root, `
cd /usr/local/apache2
httpd-foreground > /tmp/log 2>&1 &
pid=$!
for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:80/ >/tmp/page 2>/dev/null && break; sleep 0.2; done
grep -q "It works!" /tmp/page && echo page=ok
grep -q httpd /tmp/log && echo log=ok
kill -WINCH $pid; wait $pid; echo exit=$?
`)
	wantLines(t, out, "page=ok", "log=ok", "exit=0")
}

func TestRunBusyboxStandins(t *testing.T) {
	requireRoot(t)
	root := extract(t, e2e+"busybox:1.29-2")
	out := runIn(t, root, `
sleep 4321 &
s=$!
while [ "$(cat /proc/$s/comm)" != sleep ]; do :; done # until the child has exec'd
[ "$(pgrep sleep)" = "$s" ] && echo pgrep=ok
kill $s; wait $s
out=$(pgrep sleep || true); [ -z "$out" ] && echo pgrep-none=ok
pgrep nosuchprocess; echo pgrep-rc=$?
ipcs -m | grep -q "Shared Memory Segments" && echo ipcs=ok
/bin/sh -c ls >/dev/null && echo ls=ok
id -nu; echo hardlinks=$(stat -c %h /bin/ls)
mount --bind /dev/null /bin/ls && { /bin/sh -c ls >/dev/null 2>&1 || echo masked=ok; }
echo still=$(echo works)
# As Kubernetes' node e2e suite stamps its container lifecycle logs.
echo stamp=$(date -u +%FT$(nmeter -d0 '%3t' | head -n1)Z)
nmeter '%c' 2>/dev/null; echo nmeter-other-rc=$?
`)
	wantLines(t, out, "pgrep=ok", "pgrep-none=ok", "pgrep-rc=1", "ipcs=ok", "ls=ok", "root", "masked=ok", "still=works", "nmeter-other-rc=2")
	stamp := regexp.MustCompile(`(?m)^stamp=(.*)$`).FindStringSubmatch(out)
	if stamp == nil {
		t.Fatalf("no stamp line:\n%s", out)
	}
	ms := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(stamp[1])
	if ts, err := time.Parse(time.RFC3339, stamp[1]); err != nil || !ms || time.Since(ts).Abs() > time.Minute {
		t.Errorf("stamp %q (%v), want the time now, RFC 3339 with milliseconds", stamp[1], err)
	}
	if strings.Contains(out, "hardlinks=1\n") {
		t.Errorf("/bin/ls is not a hard link:\n%s", out)
	}
}

func TestRunIpcsSeesHostSegment(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("ipcmk"); err != nil {
		t.Skip("needs ipcmk")
	}
	mk, err := exec.Command("ipcmk", "-M", "4096").Output()
	if err != nil {
		t.Fatalf("ipcmk: %v", err)
	}
	id := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(mk)), "Shared memory id:"))
	defer exec.Command("ipcrm", "-m", id).Run()
	root := extract(t, e2e+"busybox:1.29-2")
	out := runIn(t, root, "ipcs -m\n")
	if !strings.Contains(out, "\n0x") || !strings.Contains(out, " "+id+" ") {
		t.Errorf("ipcs -m does not list segment %s:\n%s", id, out)
	}
}

func TestRunPauseAndNnp(t *testing.T) {
	requireRoot(t)
	pauseRoot := extract(t, "registry.k8s.io/pause:3.10")
	out, err := exec.Command("unshare", "--pid", "--fork", "sh", "-c",
		"chroot "+pauseRoot+" /pause & p=$!; sleep 0.5; kill -TERM $p; wait $p; echo exit=$?").CombinedOutput()
	if err != nil {
		t.Fatalf("pause: %v\n%s", err, out)
	}
	wantLines(t, string(out), "Shutting down", "exit=0")

	nnpRoot := extract(t, e2e+"nonewprivs:1.3")
	for _, tc := range []struct {
		desc, prefix, want string
	}{
		{desc: "setuid works", want: "Effective uid: 0\n"},
		{desc: "no_new_privs blocks setuid", prefix: "setpriv --no-new-privs ", want: "Effective uid: 1000\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			out, err := exec.Command("sh", "-c", tc.prefix+"chroot --userspec=1000:1000 "+nnpRoot+" /usr/local/bin/nnp").CombinedOutput()
			if err != nil || string(out) != tc.want {
				t.Errorf("nnp printed %q (%v), want %q", out, err, tc.want)
			}
		})
	}
}
