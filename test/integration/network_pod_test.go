package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestNetworkLocalhostInPod: two containers of a pod on the pod network
// talk over localhost (TestContainersOfAPodShareNamespaces does the same on
// the embedded default network).
func TestNetworkLocalhostInPod(t *testing.T) {
	n := newPodNet(t, "lo", 10)
	d := startNetDaemon(t, n)
	pullPodImage(t, d)
	rt := d.Runtime()

	pod := testPod(t, "net-localhost", runtimeapi.NamespaceMode_CONTAINER)
	podID := runPod(t, rt, pod, "")
	startContainer(t, rt, podID, pod, httpdContainer("httpd", "hello-over-localhost"))
	cli := startContainer(t, rt, podID, pod, testContainer("client", "sleep 1000"))
	if body := waitExec(t, rt, cli, "wget", "-qO-", "http://127.0.0.1:80/"); body != "hello-over-localhost" {
		t.Errorf("body from http://127.0.0.1:80/ = %q", body)
	}
	if ip := podIP(t, rt, podID); !n.inSubnet(ip) {
		t.Errorf("pod IP %q not in %s", ip, n.Subnet)
	}
}

// TestNetworkPodToPod: a busybox in one pod fetches a page over HTTP from
// busybox httpd in another pod, by the pod IP PodSandboxStatus reports.
func TestNetworkPodToPod(t *testing.T) {
	n := newPodNet(t, "p2p", 11)
	d := startNetDaemon(t, n)
	pullPodImage(t, d)
	rt := d.Runtime()

	srvPod := testPod(t, "net-server", runtimeapi.NamespaceMode_CONTAINER)
	srvID := runPod(t, rt, srvPod, "")
	startContainer(t, rt, srvID, srvPod, httpdContainer("httpd", "hello-from-server"))
	cliPod := testPod(t, "net-client", runtimeapi.NamespaceMode_CONTAINER)
	cliID := runPod(t, rt, cliPod, "")
	cli := startContainer(t, rt, cliID, cliPod, testContainer("client", "sleep 1000"))

	srvIP, cliIP := podIP(t, rt, srvID), podIP(t, rt, cliID)
	if !n.inSubnet(srvIP) || !n.inSubnet(cliIP) || srvIP == cliIP {
		t.Fatalf("pod IPs %q and %q: want two addresses of %s", srvIP, cliIP, n.Subnet)
	}
	if got := execSync(t, rt, cli, "sh", "-c", "ip -4 -o addr show eth0"); !strings.Contains(got, cliIP+"/") {
		t.Errorf("client's eth0 lacks its reported IP %s: %q", cliIP, got)
	}
	// No -T: Debian busybox 1.35 wget segfaults with it; ExecSync bounds the wait.
	if body := waitExec(t, rt, cli, "wget", "-qO-", "http://"+srvIP+":80/"); body != "hello-from-server" {
		t.Errorf("body from http://%s:80/ = %q", srvIP, body)
	}
}

// TestNetworkHostPort: a pod's hostPort mapping is reachable from the host
// on 127.0.0.1 and on the host's own address.
func TestNetworkHostPort(t *testing.T) {
	n := newPodNet(t, "hp", 12)
	hostIP := primaryHostIP(t, n)
	hostPort := int32(18000 + os.Getpid()%1000)
	d := startNetDaemon(t, n)
	pullPodImage(t, d)
	rt := d.Runtime()

	pod := testPod(t, "net-hostport", runtimeapi.NamespaceMode_CONTAINER)
	pod.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: hostPort}}
	podID := runPod(t, rt, pod, "")
	srv := startContainer(t, rt, podID, pod, httpdContainer("httpd", "hello-via-hostport"))
	waitExec(t, rt, srv, "wget", "-qO-", "http://127.0.0.1:80/")

	client := &http.Client{Timeout: 3 * time.Second}
	for _, host := range []string{"127.0.0.1", hostIP} {
		url := fmt.Sprintf("http://%s/", net.JoinHostPort(host, fmt.Sprint(hostPort)))
		var body string
		var lastErr error
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			body, lastErr = hostGet(client, url)
			if lastErr == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if lastErr != nil {
			t.Errorf("GET %s: %v", url, lastErr)
			continue
		}
		if body != "hello-via-hostport" {
			t.Errorf("GET %s = %q", url, body)
		}
	}

	// The mapping goes with the pod.
	ctx := context.Background()
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if body, err := hostGet(client, fmt.Sprintf("http://127.0.0.1:%d/", hostPort)); err == nil {
		t.Errorf("host port %d still answers after StopPodSandbox: %q", hostPort, body)
	}
}

func hostGet(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return strings.TrimSpace(string(b)), err
}

// primaryHostIP returns the first global IPv4 address of a non-loopback
// interface that is up and running (and not on the test network).
func primaryHostIP(t *testing.T, n *podNet) string {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagLoopback != 0 || iface.Flags&net.FlagRunning == 0 {
			continue
		}
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			ipnet, ok := a.(*net.IPNet)
			if ok && ipnet.IP.To4() != nil && ipnet.IP.IsGlobalUnicast() && !n.inSubnet(ipnet.IP.String()) {
				return ipnet.IP.String()
			}
		}
	}
	t.Skip("no global IPv4 address on a running interface")
	return ""
}

// TestNetworkHostNetwork: a hostNetwork pod gets no CNI attachment and its
// containers see the host's network namespace and interfaces.
func TestNetworkHostNetwork(t *testing.T) {
	n := newPodNet(t, "hn", 13)
	d := startNetDaemon(t, n)
	pullPodImage(t, d)
	rt := d.Runtime()

	pod := testPod(t, "net-hostnet", runtimeapi.NamespaceMode_CONTAINER)
	pod.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	podID := runPod(t, rt, pod, "")
	c := startContainer(t, rt, podID, pod, testContainer("app", "sleep 1000"))

	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if got := execSync(t, rt, c, "readlink", "/proc/self/ns/net"); got != hostNS {
		t.Errorf("container's netns %q, host's %q", got, hostNS)
	}
	// Interfaces come and go (other pods' veths): compare the stable ones.
	seen := map[string]bool{}
	for _, name := range netDevNames(execSync(t, rt, c, "cat", "/proc/net/dev")) {
		seen[name] = true
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, iface := range ifaces {
		if !strings.HasPrefix(iface.Name, "veth") && !seen[iface.Name] {
			missing = append(missing, iface.Name)
		}
	}
	if _, err := net.InterfaceByName(n.Bridge); err == nil {
		if links, _ := n.Ports(); links != "" {
			t.Errorf("hostNetwork pod got a veth on %s: %s", n.Bridge, links)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("host interfaces %v not visible in the hostNetwork container (it sees %v)", missing, seen)
	}
	if ip := podIP(t, rt, podID); n.inSubnet(ip) {
		t.Errorf("hostNetwork pod reports pod-network IP %s", ip)
	}
}

// netDevNames parses the interface names of /proc/net/dev.
func netDevNames(dev string) []string {
	var names []string
	for _, line := range strings.Split(dev, "\n") {
		name, _, ok := strings.Cut(line, ":")
		if ok && !strings.Contains(name, "|") {
			names = append(names, strings.TrimSpace(name))
		}
	}
	return names
}

// TestNetworkDNSConfig: the pod's DNS servers, searches and options land
// in its containers' /etc/resolv.conf.
func TestNetworkDNSConfig(t *testing.T) {
	n := newPodNet(t, "dns", 14)
	d := startNetDaemon(t, n)
	pullPodImage(t, d)
	rt := d.Runtime()

	pod := testPod(t, "net-dns", runtimeapi.NamespaceMode_CONTAINER)
	pod.DnsConfig = &runtimeapi.DNSConfig{
		Servers:  []string{"10.231.14.53", "10.231.14.54"},
		Searches: []string{"cricket-test.svc.cluster.local", "svc.cluster.local", "cluster.local"},
		Options:  []string{"ndots:5", "timeout:1"},
	}
	podID := runPod(t, rt, pod, "")
	c := startContainer(t, rt, podID, pod, testContainer("app", "sleep 1000"))
	resolv := execSync(t, rt, c, "cat", "/etc/resolv.conf")
	for _, want := range []string{
		"nameserver 10.231.14.53",
		"nameserver 10.231.14.54",
		"search cricket-test.svc.cluster.local svc.cluster.local cluster.local",
		"options ndots:5 timeout:1",
	} {
		if !containsLine(resolv, want) {
			t.Errorf("resolv.conf lacks %q:\n%s", want, resolv)
		}
	}

	// Without a DNS config the pod gets the host's resolv.conf.
	plain := testPod(t, "net-nodns", runtimeapi.NamespaceMode_CONTAINER)
	plainID := runPod(t, rt, plain, "")
	pc := startContainer(t, rt, plainID, plain, testContainer("app", "sleep 1000"))
	host, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	if got := execSync(t, rt, pc, "cat", "/etc/resolv.conf"); got != strings.TrimSpace(string(host)) {
		t.Errorf("resolv.conf without DNS config = %q, host's %q", got, host)
	}
}

func containsLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.Join(strings.Fields(l), " ") == line {
			return true
		}
	}
	return false
}
