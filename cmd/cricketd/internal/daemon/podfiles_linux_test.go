package daemon

import (
	"os"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
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
