package fault

import (
	"fmt"
	"os"
	"testing"

	"github.com/cricket-cri/cricket/test/testutil/podnet"
)

// podNet is the fault test's private CNI network (test/testutil/podnet): its
// own bridge, a /24 of 10.231.0.0/16 (test/integration uses 10-17 of the
// third octet), host-local leases in the test's temp dir, no masquerade, and
// a firewall chain that keeps pod traffic on the subnet and the host.
type podNet struct{ *podnet.Network }

func newPodNet(t *testing.T, dir string, octet int) *podNet {
	t.Helper()
	if err := podnet.Missing(); err != nil {
		t.Skip(err)
	}
	suffix := fmt.Sprint(os.Getpid() % 10000)
	return &podNet{podnet.New(t, dir, "crn-fault", "crnflt"+suffix, "CRN-FAULT-"+suffix, fmt.Sprintf("10.231.%d.0/24", octet))}
}
