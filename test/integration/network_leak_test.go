package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil/harness"
	"github.com/cricket-cri/cricket/test/testutil/podnet"
)

// leakPod is a pod of the leak tests; every tenth maps a host port so that
// portmap writes iptables rules that must go with it.
func leakPod(t *testing.T, name string, i int, portBase int32) *runtimeapi.PodSandboxConfig {
	pod := testPod(t, name, runtimeapi.NamespaceMode_CONTAINER)
	if i%10 == 0 {
		pod.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: portBase + int32(i/10)}}
	}
	return pod
}

// TestNetworkNoLeaks creates and deletes 100 pods (every 25th with a
// sleeping container, every 10th with a host port), then checks that no
// veth, IP lease, CNI cache entry, iptables rule or netns is left.
func TestNetworkNoLeaks(t *testing.T) {
	n := newPodNet(t, "leak", 15)
	d := startNetDaemon(t, n)
	pullPodImage(t, d)
	rt := d.Runtime()
	ctx := context.Background()
	portBase := int32(19000 + os.Getpid()%100*10)
	var ids []string
	start := time.Now()
	for i := 0; i < 100; i++ {
		pod := leakPod(t, fmt.Sprintf("leak-%d", i), i, portBase)
		id := runPod(t, rt, pod, "")
		ids = append(ids, id)
		if ip := podIP(t, rt, id); !n.inSubnet(ip) {
			t.Fatalf("pod %d: IP %q not in %s", i, ip, n.Subnet)
		}
		if i%25 == 0 {
			startContainer(t, rt, id, pod, testContainer("sleeper", "sleep 1000"))
		}
		if i == 0 && !strings.Contains(iptablesSave(t, "nat"), id) {
			t.Errorf("no nat rule for the host port of pod %s: the iptables leak check would prove nothing", id)
		}
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatalf("StopPodSandbox %d: %v", i, err)
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatalf("RemovePodSandbox %d: %v", i, err)
		}
	}
	t.Logf("100 pods run, stopped and removed in %v", time.Since(start))
	for _, l := range append(networkLeaks(t, d, n, ids), leaks(t, d, ids, nil)...) {
		t.Error("leak: " + l)
	}
}

// TestNetworkNoLeaksAfterKill kills cricketd with SIGKILL while
// RunPodSandbox calls are inside CNI, restarts it on the same directories,
// removes every pod it lists, and checks that nothing of the network is
// left: pods whose creation was cut short are torn down, and CNI GC
// releases what belongs to no pod.
func TestNetworkNoLeaksAfterKill(t *testing.T) {
	n := newPodNet(t, "kill", 16)
	d := startNetDaemon(t, n)
	pullPodImage(t, d)
	rt := d.Runtime()
	ctx := context.Background()
	portBase := int32(20000 + os.Getpid()%100*10)

	// Some pods that are complete when the daemon dies.
	var mu sync.Mutex
	var ids []string
	for i := 0; i < 10; i++ {
		pod := leakPod(t, fmt.Sprintf("ready-%d", i), i, portBase)
		id := runPod(t, rt, pod, "")
		if i%5 == 0 {
			startContainer(t, rt, id, pod, testContainer("sleeper", "sleep 1000"))
		}
		ids = append(ids, id)
	}

	// And some in flight.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			pod := leakPod(t, fmt.Sprintf("inflight-%d", i), i, portBase+5)
			resp, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pod})
			if err == nil {
				mu.Lock()
				ids = append(ids, resp.PodSandboxId)
				mu.Unlock()
			}
		}(i)
	}
	if !waitForCNIPlugin(d, 10*time.Second) {
		t.Error("saw no CNI plugin running for the in-flight pods; killing anyway")
	}
	if !d.Signal(syscall.SIGKILL, 5*time.Second) {
		t.Fatal("cricketd did not die of SIGKILL")
	}
	wg.Wait()
	// The plugins the daemon started finish on their own; a restart that
	// overlapped them could not see what they are still adding.
	if !podnet.AwaitNoPlugins(d.State, 10*time.Second) {
		t.Error("CNI plugins of the killed daemon still running after 10s")
	}
	ids = append(ids, leasedPods(n)...)
	t.Logf("killed with %d leases held", len(leasedPods(n)))

	d.Start()
	rt = d.Runtime()
	pods, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d pods listed after the restart", len(pods.Items))
	for _, p := range pods.Items {
		ids = append(ids, p.Id)
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			t.Errorf("StopPodSandbox %s: %v", p.Id, err)
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			t.Errorf("RemovePodSandbox %s: %v", p.Id, err)
		}
	}
	for _, l := range append(networkLeaks(t, d, n, ids), leaks(t, d, ids, nil)...) {
		if dir, ok := strings.CutPrefix(l, "state dir: "); ok {
			l += fmt.Sprintf(" holding %v", listFiles(t, filepath.Join(d.State, dir)))
		}
		t.Error("leak: " + l)
	}
}

func waitForCNIPlugin(d *harness.Daemon, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if len(podnet.Plugins(d.State)) > 0 {
			return true
		}
	}
	return false
}

// leasedPods returns the pod IDs holding host-local leases of n.
func leasedPods(n *podNet) []string {
	files, _ := filepath.Glob(filepath.Join(n.IPAMDir, n.Name, "10.*"))
	var ids []string
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		if fields := strings.Fields(string(raw)); len(fields) > 0 {
			ids = append(ids, fields[0])
		}
	}
	return ids
}

func iptablesSave(t *testing.T, table string) string {
	t.Helper()
	out, err := exec.Command("iptables-save", "-t", table).Output()
	if err != nil {
		t.Fatalf("iptables-save -t %s: %v", table, err)
	}
	return string(out)
}
