package network

import (
	"fmt"
	"strconv"
	"strings"
)

// parseQuantity parses a Kubernetes resource quantity as used by the
// bandwidth annotations ("10M", "1Gi", "500k", "1e6") into an integer.
func parseQuantity(s string) (int64, error) {
	s = strings.TrimSpace(s)
	suffixes := []struct {
		suffix string
		mult   float64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50}, {"Ei", 1 << 60},
		{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18},
	}
	mult := 1.0
	for _, sfx := range suffixes {
		if strings.HasSuffix(s, sfx.suffix) {
			s, mult = strings.TrimSuffix(s, sfx.suffix), sfx.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid quantity %q", s)
	}
	out := v * mult
	if out > 1<<62 {
		return 0, fmt.Errorf("quantity %q is too large", s)
	}
	return int64(out), nil
}
