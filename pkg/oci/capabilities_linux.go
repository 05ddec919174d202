package oci

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CurrentCapabilities returns the names of the capabilities in this
// process's bounding set: the most a container it starts can hold.
func CurrentCapabilities() ([]string, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil, fmt.Errorf("open /proc/self/status: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapBnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return nil, fmt.Errorf("parse CapBnd %q: %w", v, err)
			}
			return CapabilitiesFromMask(mask), nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /proc/self/status: %w", err)
	}
	return nil, fmt.Errorf("no CapBnd line in /proc/self/status")
}

// CapabilitiesFromMask names the capabilities set in a kernel capability
// mask; bits beyond the known capabilities are ignored.
func CapabilitiesFromMask(mask uint64) []string {
	var out []string
	for i, name := range AllCapabilities {
		if mask&(1<<uint(i)) != 0 {
			out = append(out, name)
		}
	}
	return out
}
