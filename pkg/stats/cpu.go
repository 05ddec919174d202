package stats

import "time"

// cpuSample is the last CPU reading of a cgroup and the rate computed when
// it was taken.
type cpuSample struct {
	at    time.Time
	usage uint64
	// rate is valid when hasRate is set.
	rate    uint64
	hasRate bool
}

// rate returns the CPU usage in nanocores between the last remembered
// sample of key and this one (usage cumulative nanoseconds at now), or nil
// on the first sample. Samples closer than MinRateInterval to the last one
// return its rate and are not remembered, so that a burst of reads neither
// yields a noisy rate nor shortens the next interval.
func (c *Collector) rate(key string, usage uint64, now time.Time) *uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.rememberLocked(key, now)
	prev := m.cpu
	elapsed := now.Sub(prev.at)
	if !prev.at.IsZero() && elapsed >= 0 && elapsed < c.opts.MinRateInterval {
		if !prev.hasRate {
			return nil
		}
		r := prev.rate
		return &r
	}
	next := cpuSample{at: now, usage: usage}
	// A counter that went backwards belongs to a new cgroup of the same
	// name (a restarted pod); start over.
	if !prev.at.IsZero() && elapsed > 0 && usage >= prev.usage {
		next.rate = uint64(float64(usage-prev.usage) / float64(elapsed.Nanoseconds()) * 1e9)
		next.hasRate = true
	}
	m.cpu = next
	if !next.hasRate {
		return nil
	}
	r := next.rate
	return &r
}
