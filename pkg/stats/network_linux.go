package stats

import (
	"fmt"
	"os"

	"github.com/cricket-cri/cricket/pkg/nsutil"
)

// NetnsCounters reads interface counters inside a pinned network
// namespace, on a throwaway thread (nsutil.Do) so that no daemon thread
// changes namespace. /proc/thread-self/net/dev shows the calling thread's
// namespace; /proc/self/net would show the main thread's.
type NetnsCounters struct{}

// Interfaces implements Network.
func (NetnsCounters) Interfaces(netnsPath string) ([]Interface, error) {
	var out []Interface
	err := nsutil.Do(netnsPath, func() error {
		f, err := os.Open("/proc/thread-self/net/dev")
		if err != nil {
			return fmt.Errorf("open /proc/thread-self/net/dev: %w", err)
		}
		defer f.Close()
		out, err = ParseNetDev(f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("network counters of %s: %w", netnsPath, err)
	}
	return out, nil
}
