package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

// compatRejected is in the compat daemon's
// runtime.absent_mount_sources_to_reject; nothing creates it.
const compatRejected = "/run/cricket-compat-test-absent"

// compatConfig turns on the compatibility keys TestCompat covers.
const compatConfig = `[runtime]
absent_mount_sources_to_reject = ["` + compatRejected + `"]
device_ownership_from_security_context = true
[runtime.handlers.cricket-arm]
type = "builtin"
platform = "linux/arm64"
`

// TestCompat covers what clusters expect of a runtime beyond critest, on
// every handler: missing hostPath sources are created as directories
// (unless the config rejects them); device_ownership_from_security_context;
// user namespaces with host networking; OCI artifacts as image volumes;
// procMount Unmasked; images pulled per runtime handler.
func TestCompat(t *testing.T) {
	d := startSecurityDaemonWith(t, compatConfig, true)
	noUserns := func(e *secEnv) string {
		if !handlerSupportsUserns(t, e.rt, e.h.handler) {
			return "the handler does not advertise user namespaces"
		}
		return ""
	}
	cases := []fieldCase{
		{desc: "missing host path is created", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/new", HostPath: filepath.Join(t.TempDir(), "a", "b")})
		}, check: func(t *testing.T, e *secEnv, id string) {
			e.mustSh(t, id, "echo from-ctr > /mnt/new/f")
			src := compatHostPath(t, e, id, "/mnt/new")
			if got := hostFile(t, filepath.Join(src, "f")); got != "from-ctr" {
				t.Errorf("host sees %q in %s", got, src)
			}
			for _, p := range []string{src, filepath.Dir(src)} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if !fi.IsDir() || fi.Mode().Perm() != 0o755 || st.Uid != 0 || st.Gid != 0 {
					t.Errorf("%s: mode %v, owner %d:%d; want a 0755 directory owned by root", p, fi.Mode(), st.Uid, st.Gid)
				}
			}
		}},
		{desc: "missing host path in absent_mount_sources_to_reject is refused", ctr: func(t *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/mnt/rejected", HostPath: compatRejected})
		}, wantCode: codes.InvalidArgument, wantErr: compatRejected},
		// /dev/net/tun is 0600 root on the host: a non-root container can
		// open its copy only when it owns it.
		{desc: "device_ownership_from_security_context", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).RunAsUser, sc(c).RunAsGroup = &runtimeapi.Int64Value{Value: 1000}, &runtimeapi.Int64Value{Value: 2000}
			c.Devices = append(c.Devices, &runtimeapi.Device{ContainerPath: "/dev/cricket-tun", HostPath: "/dev/net/tun", Permissions: "rw"})
		}, check: func(t *testing.T, e *secEnv, id string) {
			e.wantSh(t, id, "ls -ln /dev/cricket-tun | awk '{print $3\":\"$4}'", "1000:2000")
			e.wantSh(t, id, "exec 3<>/dev/cricket-tun && echo opened", "opened")
		}},
		{desc: "device ownership without run_as_user stays root", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Devices = append(c.Devices, &runtimeapi.Device{ContainerPath: "/dev/cricket-tun", HostPath: "/dev/net/tun", Permissions: "rw"})
		}, check: func(t *testing.T, e *secEnv, id string) {
			e.wantSh(t, id, "ls -ln /dev/cricket-tun | awk '{print $3\":\"$4}'", "0:0")
		}},
		// KEP-5607: the pod joins the host's network namespace, which its
		// user namespace does not own, so /sys is the host's, bound.
		{desc: "user namespace with host network", pod: podUsernsHost, skip: noUserns, check: func(t *testing.T, e *secEnv, id string) {
			if got, want := e.nsLink(t, id, "net"), hostNS(t, "net"); got != want {
				t.Errorf("net namespace %s, want the host's %s", got, want)
			}
			if got := strings.Fields(e.mustSh(t, id, "cat /proc/self/uid_map")); len(got) != 3 || got[1] != fmt.Sprint(usernsHostID) {
				t.Errorf("uid_map %v, want container root at host uid %d", got, usernsHostID)
			}
			if l := e.mountLine(t, id, "/sys"); !hasOpt(l, "ro") {
				t.Errorf("/sys is not read-only: %q", l)
			}
			e.mustSh(t, id, "test -e /sys/class/net/lo")
			e.wantFails(t, id, "touch /sys/kernel/x", "")
		}},
		// KEP-4639 as CRI-O does it: a directory of the artifact's layer
		// files, named by title (a title that is not a plain file name:
		// by digest).
		{desc: "OCI artifact as an image volume", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/art", Readonly: true, Image: &runtimeapi.ImageSpec{Image: imagebuild.ArtifactRef}})
		}, check: func(t *testing.T, e *secEnv, id string) {
			readme, notes := imagebuild.ArtifactFiles[0], imagebuild.ArtifactFiles[1]
			e.wantSh(t, id, "cat /art/"+readme.Title, strings.TrimSpace(readme.Content))
			sum := sha256.Sum256([]byte(notes.Content))
			e.wantSh(t, id, "cat /art/"+hex.EncodeToString(sum[:]), strings.TrimSpace(notes.Content))
			e.wantSh(t, id, "ls /art | wc -l", "2")
			e.wantFails(t, id, "touch /art/x", "Read-only file system")
		}},
		// A RemoveImage of the artifact (crictl rmi, the kubelet's image
		// GC) leaves a running container's volume as it was: its files
		// stay until the container is gone, as a removed image's layers
		// stay under its containers (found by hand: the volume was
		// emptied).
		{desc: "OCI artifact removed while mounted", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			c.Mounts = append(c.Mounts, &runtimeapi.Mount{ContainerPath: "/art", Readonly: true, Image: &runtimeapi.ImageSpec{Image: imagebuild.ArtifactRef}})
		}, check: func(t *testing.T, e *secEnv, id string) {
			img, spec := e.d.Image(), &runtimeapi.ImageSpec{Image: imagebuild.ArtifactRef}
			t.Cleanup(func() {
				if _, err := img.PullImage(context.Background(), &runtimeapi.PullImageRequest{Image: spec}); err != nil {
					t.Errorf("pull the artifact again for the next cases: %v", err)
				}
			})
			if _, err := img.RemoveImage(t.Context(), &runtimeapi.RemoveImageRequest{Image: spec}); err != nil {
				t.Fatal(err)
			}
			if st, err := img.ImageStatus(t.Context(), &runtimeapi.ImageStatusRequest{Image: spec}); err != nil || st.GetImage() != nil {
				t.Fatalf("artifact status after RemoveImage: %v, %v; want gone", st.GetImage(), err)
			}
			readme := imagebuild.ArtifactFiles[0]
			e.wantSh(t, id, "cat /art/"+readme.Title, strings.TrimSpace(readme.Content))
			e.wantSh(t, id, "ls /art | wc -l", "2")
		}},
		{desc: "OCI artifact as a container image is refused", image: imagebuild.ArtifactRef, wantCode: codes.InvalidArgument, wantErr: "OCI artifact"},
		// The kubelet sends empty lists for procMount: Unmasked, which
		// the API allows only with hostUsers: false, and its defaults
		// otherwise.
		{desc: "procMount Unmasked", pod: podUserns, skip: noUserns, ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).MaskedPaths, sc(c).ReadonlyPaths = []string{}, []string{}
		}, check: func(t *testing.T, e *secEnv, id string) {
			// (This kernel has no /proc/kcore.)
			for _, p := range []string{"/proc/keys", "/proc/timer_list", "/proc/sys", "/proc/sysrq-trigger"} {
				if l := e.mountLine(t, id, p); l != "" {
					t.Errorf("%s is masked or read-only in an unmasked /proc: %s", p, l)
				}
			}
		}},
		{desc: "procMount Default", pod: podUserns, skip: noUserns, ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).MaskedPaths, sc(c).ReadonlyPaths = []string{"/proc/kcore", "/proc/timer_list"}, []string{"/proc/sys"}
		}, check: func(t *testing.T, e *secEnv, id string) {
			if l := e.mountLine(t, id, "/proc/timer_list"); l == "" {
				t.Error("/proc/timer_list is not masked")
			}
			if l := e.mountLine(t, id, "/proc/sys"); !hasOpt(l, "ro") {
				t.Errorf("/proc/sys is not read-only: %q", l)
			}
		}},
	}
	st, err := d.Runtime().Status(t.Context(), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.GetFeatures().GetUserNamespacesHostNetwork(), handlerSupportsUserns(t, d.Runtime(), ""); got != want {
		t.Errorf("user_namespaces_host_network = %v; the default handler's user_namespaces = %v", got, want)
	}
	checkCrictlInfo(t, d)
	runFieldCases(t, d, cases)
	t.Run("image per runtime handler", func(t *testing.T) { checkImagePerHandler(t, d) })
	if _, err := os.Lstat(compatRejected); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s, in absent_mount_sources_to_reject, was created (%v)", compatRejected, err)
	}
}

// compatHostPath is the host path ContainerStatus reports for a mount.
func compatHostPath(t *testing.T, e *secEnv, id, ctrPath string) string {
	t.Helper()
	resp, err := e.rt.ContainerStatus(t.Context(), &runtimeapi.ContainerStatusRequest{ContainerId: id})
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

// checkImagePerHandler: KEP-4216. multiArchBusybox is an index of
// linux/amd64 and a linux/arm64 stub; cricket-arm pulls for linux/arm64. A
// pull for it is another image, seen by ImageStatus for that handler only,
// and an unknown handler is NotFound. A single-platform image is the same
// image for every handler.
func checkImagePerHandler(t *testing.T, d *harness.Daemon) {
	ctx := t.Context()
	img := d.Image()
	spec := func(h string) *runtimeapi.ImageSpec {
		return &runtimeapi.ImageSpec{Image: multiArchBusybox, RuntimeHandler: h}
	}
	host, err := img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec("")})
	if err != nil || host.GetImage() == nil {
		t.Fatalf("host image status: %v, %v", host, err)
	}
	if st, err := img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec("cricket-arm")}); err != nil || st.GetImage() != nil {
		t.Fatalf("status for cricket-arm before its pull = %v, %v; want absent", st.GetImage(), err)
	}
	arm, err := img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("cricket-arm")})
	if err != nil {
		t.Fatal(err)
	}
	if arm.ImageRef == host.GetImage().GetId() {
		t.Fatalf("the cricket-arm pull gave the host platform's image %s", arm.ImageRef)
	}
	single, err := img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: busyboxRef, RuntimeHandler: "cricket-arm"}})
	if st, _ := img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: busyboxRef}}); err != nil || single.GetImageRef() != st.GetImage().GetId() {
		t.Errorf("single-platform image pulled for cricket-arm = %s, %v; want the host's %s", single.GetImageRef(), err, st.GetImage().GetId())
	}
	for h, want := range map[string]string{"": host.GetImage().GetId(), "cricket": host.GetImage().GetId(), "runc": host.GetImage().GetId(), "cricket-arm": arm.ImageRef} {
		st, err := img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec(h)})
		if err != nil || st.GetImage().GetId() != want {
			t.Errorf("status for handler %q = %s, %v; want %s", h, st.GetImage().GetId(), err, want)
		}
	}
	for _, rpc := range []func() error{
		func() error {
			_, err := img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec("nosuch")})
			return err
		},
		func() error {
			_, err := img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec("nosuch")})
			return err
		},
		func() error {
			_, err := img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec("nosuch")})
			return err
		},
	} {
		if err := rpc(); status.Code(err) != codes.NotFound {
			t.Errorf("unknown handler: %v, want NotFound", err)
		}
	}
	if _, err := img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: spec("cricket-arm")}); err != nil {
		t.Fatal(err)
	}
	if st, err := img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec("")}); err != nil || st.GetImage().GetId() != host.GetImage().GetId() {
		t.Errorf("host image after removing the cricket-arm one = %v, %v", st.GetImage(), err)
	}
}

// checkCrictlInfo: crictl info shows every runtime feature the CRI can
// advertise, and each handler's features.
func checkCrictlInfo(t *testing.T, d *harness.Daemon) {
	out, err := d.Crictl("info")
	if err != nil {
		t.Fatalf("crictl info: %v\n%s", err, out)
	}
	var info struct {
		Features        map[string]bool `json:"features"`
		RuntimeHandlers []struct {
			Name     string          `json:"name"`
			Features map[string]bool `json:"features"`
		} `json:"runtimeHandlers"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("crictl info: %v\n%s", err, out)
	}
	userns := handlerSupportsUserns(t, d.Runtime(), "")
	// crictl prints them with encoding/json: the proto's snake_case names.
	for k, want := range map[string]bool{"supplemental_groups_policy": true, "mount_options": true, "user_namespaces_host_network": userns} {
		if got, ok := info.Features[k]; !ok && want || got != want {
			t.Errorf("crictl info features[%s] = %v (listed %v), want %v\n%s", k, got, ok, want, out)
		}
	}
	for _, h := range info.RuntimeHandlers {
		if h.Name == "" && h.Features["user_namespaces"] != userns {
			t.Errorf("crictl info: default handler's user_namespaces = %v, want %v", h.Features["user_namespaces"], userns)
		}
	}
	if len(info.RuntimeHandlers) == 0 {
		t.Errorf("crictl info lists no runtime handlers\n%s", out)
	}
}
