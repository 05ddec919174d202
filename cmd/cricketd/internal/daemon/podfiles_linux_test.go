package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/sandbox"
)

func podConfigWithHostname(h string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{Hostname: h}
}

func TestPodHostname(t *testing.T) {
	node, _ := os.Hostname()
	hostNet := &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
	}}
	cases := []struct {
		desc string
		cfg  *runtimeapi.PodSandboxConfig
		want string
	}{
		{desc: "config hostname", cfg: podConfigWithHostname("web"), want: "web"},
		{desc: "none: the node's", cfg: &runtimeapi.PodSandboxConfig{}, want: node},
		{desc: "host network: the node's", cfg: &runtimeapi.PodSandboxConfig{Hostname: "web", Linux: hostNet}, want: node},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := podHostname(tc.cfg); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPodFilesSELinux: with a mount label, the hostname, hosts and
// resolv.conf files are relabelled for every container of the pod (found
// in the enforcing test/vm node: left as the daemon wrote them, the pod's
// containers could not read them); without one nothing is.
func TestPodFilesSELinux(t *testing.T) {
	hostIPC := &runtimeapi.PodSandboxConfig{Hostname: "web", Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Ipc: runtimeapi.NamespaceMode_NODE},
	}}}
	const l = "system_u:object_r:container_file_t:s0:c1,c2"
	for _, label := range []string{l, ""} {
		dir := t.TempDir()
		var got []string
		pf := podFiles{relabel: func(p, ml string) error {
			got = append(got, filepath.Base(p)+"="+ml)
			return nil
		}}
		if _, err := pf.Write(context.Background(), dir, hostIPC, sandbox.NetworkStatus{IP: "10.1.2.3"}, nil, label); err != nil {
			t.Fatal(err)
		}
		want := ""
		if label != "" {
			want = "hostname=" + l + " hosts=" + l + " resolv.conf=" + l
		}
		if strings.Join(got, " ") != want {
			t.Errorf("label %q: relabelled %q, want %q", label, got, want)
		}
	}
}

// TestLabelledPodInit: with SELinux, a pod with a process label gets its
// init from the labelled copy of the binary, at that label; a privileged
// pod (no label) and a host without SELinux (no copy) get the binary at
// the daemon's own label.
func TestLabelledPodInit(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "shim")
	if err := os.WriteFile(src, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	var relabelled []string
	exe, err := prepareLabelledInit(src, filepath.Join(dir, "state", "selinux"), "system_u:object_r:container_file_t:s0", func(p, l string) error {
		relabelled = append(relabelled, l)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exe.Close() })
	copyPath := exe.Name()
	if b, err := os.ReadFile(copyPath); err != nil || string(b) != "#!/bin/sh\n" {
		t.Fatalf("copy %s: %q, %v", copyPath, b, err)
	}
	if st, err := os.Stat(copyPath); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("copy mode: %v, %v", st, err)
	}
	if strings.Join(relabelled, " ") != "system_u:object_r:container_file_t:s0" {
		t.Fatalf("relabelled %q", relabelled)
	}
	n := namespaces{binary: src, labelledBinary: exe, ipcAfterUser: true}
	const l = "system_u:system_r:container_t:s0:c1,c2"
	if b, il, f := n.init(l, false); b != copyPath || il != l || f != exe {
		t.Errorf("labelled pod: init %s (%v) at %q", b, f, il)
	}
	if b, il, f := n.init("", false); b != src || il != "" || f != nil {
		t.Errorf("privileged pod: init %s (%v) at %q", b, f, il)
	}
	// A user-namespace pod's init makes its IPC namespace, which the
	// container domain may not.
	if b, il, f := n.init(l, true); b != src || il != "" || f != nil {
		t.Errorf("user-namespace pod: init %s (%v) at %q", b, f, il)
	}
	n.labelledBinary = nil
	if b, il, f := n.init(l, false); b != src || il != "" || f != nil {
		t.Errorf("no SELinux: init %s (%v) at %q", b, f, il)
	}
}
