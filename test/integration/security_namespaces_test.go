package integration

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestSecurityNamespaces covers the pid (POD, CONTAINER, NODE, TARGET),
// ipc (POD, NODE) and network (POD, NODE) namespace modes on every
// handler, comparing namespace links inside the container with the host's.
func TestSecurityNamespaces(t *testing.T) {
	d := startSecurityDaemon(t, "")
	sameAsHost := func(ns string, want bool) func(*testing.T, *secEnv, string) {
		return func(t *testing.T, e *secEnv, id string) {
			got, host := e.nsLink(t, id, ns), hostNS(t, ns)
			if (got == host) != want {
				t.Errorf("%s namespace %s, host's %s: want same = %v", ns, got, host, want)
			}
		}
	}
	cases := []fieldCase{
		{desc: "pid CONTAINER", check: func(t *testing.T, e *secEnv, id string) {
			sameAsHost("pid", false)(t, e, id)
			e.wantSh(t, id, "cat /proc/1/cmdline | tr '\\0' ' '", "sh -c "+secTestScript)
		}},
		{desc: "pid POD", pod: podPidPod, check: func(t *testing.T, e *secEnv, id string) {
			sameAsHost("pid", false)(t, e, id)
			// pid 1 is the pod's init, shared by a second container.
			other := e.start(t, podPidPod, e.newConfig("pid pod peer"))
			if a, b := e.nsLink(t, id, "pid"), e.nsLink(t, other, "pid"); a != b {
				t.Errorf("containers of a pid POD pod: %s and %s", a, b)
			}
			if out := e.mustSh(t, id, "cat /proc/1/cmdline | tr '\\0' ' '"); out == "sh -c "+secTestScript {
				t.Errorf("pid 1 is the container's own process in a pid POD pod")
			}
		}},
		{desc: "pid NODE", pod: podPidNode, check: sameAsHost("pid", true)},
		{desc: "pid TARGET", check: func(t *testing.T, e *secEnv, id string) {
			podID, podCfg := e.pod(t, podDefault)
			cfg := e.newConfig("pid target")
			sc(cfg).NamespaceOptions = &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_TARGET, TargetId: id}
			other, err := e.createStart(podID, podCfg, cfg)
			if other != "" {
				t.Cleanup(func() { e.remove(other) })
			}
			if err != nil {
				t.Fatal(err)
			}
			if a, b := e.nsLink(t, id, "pid"), e.nsLink(t, other, "pid"); a != b {
				t.Errorf("TARGET container's pid namespace %s, target's %s", b, a)
			}
		}},
		{desc: "pid TARGET of a missing container is rejected", ctr: func(_ *testing.T, _ *secEnv, c *runtimeapi.ContainerConfig) {
			sc(c).NamespaceOptions = &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_TARGET, TargetId: "no-such-container"}
		}, wantCode: codes.NotFound},
		{desc: "ipc POD", check: func(t *testing.T, e *secEnv, id string) {
			sameAsHost("ipc", false)(t, e, id)
			other := e.start(t, podDefault, e.newConfig("ipc pod peer"))
			if a, b := e.nsLink(t, id, "ipc"), e.nsLink(t, other, "ipc"); a != b {
				t.Errorf("containers of one pod: ipc %s and %s", a, b)
			}
		}},
		{desc: "ipc NODE", pod: podIpcNode, check: sameAsHost("ipc", true)},
		{desc: "network POD", check: func(t *testing.T, e *secEnv, id string) {
			sameAsHost("net", false)(t, e, id)
			e.mustSh(t, id, "ip -o addr show eth0 | grep -q 'inet '")
		}},
		{desc: "network NODE", pod: podNetNode, check: func(t *testing.T, e *secEnv, id string) {
			sameAsHost("net", true)(t, e, id)
			podID, _ := e.pod(t, podNetNode)
			resp, err := e.rt.PodSandboxStatus(context.Background(), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
			if err != nil {
				t.Fatal(err)
			}
			if ip := resp.GetStatus().GetNetwork().GetIp(); ip != "" {
				t.Errorf("host-network pod has pod IP %q from CNI", ip)
			}
		}},
	}
	runFieldCases(t, d, cases)
}
