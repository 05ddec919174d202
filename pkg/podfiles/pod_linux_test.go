package podfiles

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil"
)

func hostIPC() *runtimeapi.LinuxPodSandboxConfig {
	return &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Ipc: runtimeapi.NamespaceMode_NODE},
	}}
}

// TestWriteHostIPC needs no root: a host-IPC pod mounts nothing.
func TestWriteHostIPC(t *testing.T) {
	hostResolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(hostResolv, []byte("nameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc     string
		cfg      *runtimeapi.PodSandboxConfig
		o        Options
		hostname string
		resolv   string
		wantErr  bool
	}{
		{desc: "pod hostname and dns", cfg: &runtimeapi.PodSandboxConfig{Hostname: "web-0", DnsConfig: &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}}, Linux: hostIPC()},
			o: Options{PodIPs: []string{"10.244.0.7"}}, hostname: "web-0\n", resolv: "nameserver 10.96.0.10\n"},
		{desc: "node hostname, host resolv.conf", cfg: &runtimeapi.PodSandboxConfig{Linux: hostIPC()}, o: Options{NodeHostname: "node1", HostResolvConf: hostResolv},
			hostname: "node1\n", resolv: "nameserver 192.0.2.53\n"},
		{desc: "bad dns leaves nothing", cfg: &runtimeapi.PodSandboxConfig{Hostname: "x", DnsConfig: &runtimeapi.DNSConfig{Servers: []string{"nope"}}, Linux: hostIPC()}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pod")
			p, err := Write(dir, tc.cfg, tc.o)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("pod dir left: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Shm != HostShm {
				t.Fatalf("shm = %s", p.Shm)
			}
			if got, _ := os.ReadFile(p.Hostname); string(got) != tc.hostname {
				t.Fatalf("hostname %q", got)
			}
			if got, _ := os.ReadFile(p.ResolvConf); string(got) != tc.resolv {
				t.Fatalf("resolv.conf %q", got)
			}
			if err := Remove(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("pod dir left: %v", err)
			}
		})
	}
}

func TestWriteRemoveWithShm(t *testing.T) {
	testutil.RequireRoot(t)
	dir := filepath.Join(t.TempDir(), "pod")
	cfg := &runtimeapi.PodSandboxConfig{Hostname: "p", Annotations: map[string]string{ShmSizeAnnotation: "4194304"}}
	p, err := Write(dir, cfg, Options{PodIPs: []string{"10.0.0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Remove(dir) })
	line, ok := mountOptions(t, p.Shm)
	if !ok || !strings.Contains(line, "size=4096k") {
		t.Fatalf("shm mount %q", line)
	}
	if err := Remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, ok := mountOptions(t, p.Shm); ok {
		t.Fatal("shm still mounted")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pod dir left: %v", err)
	}
	if err := Remove(dir); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

func TestChown(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	p := PathsIn(dir)
	for _, f := range []string{p.Hostname, p.Hosts, p.ResolvConf} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.Shm = "" // given at mount, not here
	if err := Chown(p, Owner{UID: 300000, GID: 300001}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p.Hostname, p.Hosts, p.ResolvConf} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 300000 || st.Gid != 300001 {
			t.Errorf("%s is owned by %d:%d, want 300000:300001", f, st.Uid, st.Gid)
		}
	}
	if err := Chown(Paths{Hosts: filepath.Join(dir, "missing")}, Owner{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("chown of a missing file: %v", err)
	}
}
