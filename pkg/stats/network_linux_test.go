package stats_test

import (
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/nsutil"
	"github.com/cricket-cri/cricket/pkg/stats"
	"github.com/cricket-cri/cricket/test/testutil"
)

// TestNetnsCountersReadThePodNamespace creates a pod-like network
// namespace with a veth pair in it, sends a packet out of it, and checks
// that the counters are the namespace's, not the host's.
func TestNetnsCountersReadThePodNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	dir := filepath.Join(t.TempDir(), "ns")
	pinned, err := nsutil.Create(dir, nsutil.Options{Kinds: []nsutil.Kind{nsutil.Net}, LoopbackUp: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nsutil.UnpinAll(dir) })
	netns := pinned[nsutil.Net]
	in := func(args ...string) {
		t.Helper()
		out, err := exec.Command("nsenter", append([]string{"--net=" + netns}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	in("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
	in("ip", "addr", "add", "10.254.0.1/29", "dev", "eth0")
	in("ip", "link", "set", "eth0", "up")
	in("ip", "link", "set", "peer0", "up")
	// A datagram to an unassigned neighbour makes eth0 send an ARP request.
	err = nsutil.Do(netns, func() error {
		conn, err := net.Dial("udp", "10.254.0.3:9")
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.Write([]byte("x"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var ifs []stats.Interface
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ifs, err = (stats.NetnsCounters{}).Interfaces(netns); err != nil {
			t.Fatal(err)
		}
		if d := stats.Default(ifs); (d != nil && d.TxBytes > 0) || time.Now().After(deadline) {
			break
		}
	}
	names := []string{}
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"eth0", "peer0"}) {
		t.Fatalf("interfaces %v, want the namespace's eth0 and peer0 only", names)
	}
	if d := stats.Default(ifs); d.Name != "eth0" || d.TxBytes == 0 {
		t.Fatalf("default interface %+v: want eth0 with traffic", d)
	}
}
