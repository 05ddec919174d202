package nri

import (
	"reflect"
	"testing"
	"time"

	api "github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/oci"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

func TestPodSandbox(t *testing.T) {
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:    &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "ns", Uid: "u1"},
		Labels:      map[string]string{"app": "web"},
		Annotations: map[string]string{"a": "b"},
		Linux:       &runtimeapi.LinuxPodSandboxConfig{CgroupParent: "/kubepods"},
	}
	for _, tc := range []struct {
		desc string
		md   sandbox.Metadata
		want *api.PodSandbox
	}{
		{
			desc: "pod with its own network",
			md: sandbox.Metadata{
				ID: "p1", Config: cfg, RuntimeHandler: "runc", CgroupPath: "/kubepods/pod-p1",
				Namespaces: oci.NamespacePaths{Network: "/run/p1/net", IPC: "/run/p1/ipc"},
				Network:    sandbox.NetworkStatus{IP: "10.0.0.2", AdditionalIPs: []string{"fd00::2"}},
			},
			want: &api.PodSandbox{
				Id: "p1", Name: "web", Uid: "u1", Namespace: "ns", RuntimeHandler: "runc",
				Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"},
				Ips: []string{"10.0.0.2", "fd00::2"},
				Linux: &api.LinuxPodSandbox{
					CgroupParent: "/kubepods", CgroupsPath: "/kubepods/pod-p1",
					Namespaces: []*api.LinuxNamespace{{Type: "network", Path: "/run/p1/net"}, {Type: "ipc", Path: "/run/p1/ipc"}},
				},
			},
		},
		{
			desc: "host-network pod has no IPs and no namespaces",
			md:   sandbox.Metadata{ID: "p2", Config: cfg},
			want: &api.PodSandbox{
				Id: "p2", Name: "web", Uid: "u1", Namespace: "ns",
				Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"},
				Linux: &api.LinuxPodSandbox{CgroupParent: "/kubepods"},
			},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got := PodSandbox(&sandbox.Sandbox{Metadata: tc.md})
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestContainer(t *testing.T) {
	created := time.Unix(100, 0)
	md := container.Metadata{
		ID: "c1", PodID: "p1", CreatedAt: created,
		Config: &runtimeapi.ContainerConfig{
			Metadata:    &runtimeapi.ContainerMetadata{Name: "app"},
			Labels:      map[string]string{"l": "1"},
			Annotations: map[string]string{"from": "config"},
		},
		Process: &specs.Process{Args: []string{"sleep", "9"}, Env: []string{"A=1"}},
	}
	oom := 100
	spec := &specs.Spec{
		Process:     &specs.Process{Args: []string{"/pause"}, Env: []string{"B=2"}, OOMScoreAdj: &oom},
		Annotations: map[string]string{"from": "spec"},
		Mounts:      []specs.Mount{{Destination: "/etc/hosts", Type: "bind", Source: "/run/hosts"}},
		Linux:       &specs.Linux{CgroupsPath: "/kubepods/pod-p1/c1"},
	}
	for _, tc := range []struct {
		desc  string
		spec  *specs.Spec
		check func(t *testing.T, c *api.Container)
	}{
		{
			desc: "after creation: CRI config and process",
			check: func(t *testing.T, c *api.Container) {
				if c.Id != "c1" || c.PodSandboxId != "p1" || c.Name != "app" || c.CreatedAt != created.UnixNano() {
					t.Errorf("identity = %v", c)
				}
				if c.Annotations["from"] != "config" || !reflect.DeepEqual(c.Args, []string{"sleep", "9"}) || c.Linux != nil {
					t.Errorf("container = %v", c)
				}
			},
		},
		{
			desc: "while being created: the spec",
			spec: spec,
			check: func(t *testing.T, c *api.Container) {
				if c.Annotations["from"] != "spec" || !reflect.DeepEqual(c.Env, []string{"B=2"}) || len(c.Mounts) != 1 {
					t.Errorf("container = %v", c)
				}
				if c.Linux.GetCgroupsPath() != "/kubepods/pod-p1/c1" || c.Linux.GetOomScoreAdj().GetValue() != 100 {
					t.Errorf("linux = %v", c.Linux)
				}
			},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			tc.check(t, Container(&container.Container{Metadata: md}, tc.spec))
		})
	}
}

func TestContainerState(t *testing.T) {
	for _, tc := range []struct {
		desc string
		in   container.State
		want api.ContainerState
	}{
		{"created", container.StateCreated, api.ContainerState_CONTAINER_CREATED},
		{"running", container.StateRunning, api.ContainerState_CONTAINER_RUNNING},
		{"exited", container.StateExited, api.ContainerState_CONTAINER_STOPPED},
		{"being created", "", api.ContainerState_CONTAINER_UNKNOWN},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := containerState(tc.in); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
