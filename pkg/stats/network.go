package stats

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DefaultInterface is the interface CNI plugins give a pod, reported as
// its default interface.
const DefaultInterface = "eth0"

// ParseNetDev parses /proc/net/dev, leaving out loopback.
func ParseNetDev(r io.Reader) ([]Interface, error) {
	var out []Interface
	sc := bufio.NewScanner(r)
	for line := 0; sc.Scan(); line++ {
		if line < 2 { // the two header lines
			continue
		}
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return nil, fmt.Errorf("net/dev line %d: no interface name", line+1)
		}
		name = strings.TrimSpace(name)
		if name == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			return nil, fmt.Errorf("net/dev line %d: %d fields, want 16", line+1, len(f))
		}
		var v [8]uint64
		// rx bytes, packets, errs, drop; tx bytes, packets, errs, drop
		for i, col := range []int{0, 1, 2, 3, 8, 9, 10, 11} {
			n, err := strconv.ParseUint(f[col], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("net/dev line %d: %w", line+1, err)
			}
			v[i] = n
		}
		out = append(out, Interface{
			Name:    name,
			RxBytes: v[0], RxPackets: v[1], RxErrors: v[2], RxDropped: v[3],
			TxBytes: v[4], TxPackets: v[5], TxErrors: v[6], TxDropped: v[7],
		})
	}
	return out, sc.Err()
}

// Default returns the pod's default interface among ifs: eth0 when it
// exists, else the first one; nil for none.
func Default(ifs []Interface) *Interface {
	for i := range ifs {
		if ifs[i].Name == DefaultInterface {
			return &ifs[i]
		}
	}
	if len(ifs) > 0 {
		return &ifs[0]
	}
	return nil
}
