package stats_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/snapshot"
	"github.com/cricket-cri/cricket/pkg/stats"
	"github.com/cricket-cri/cricket/pkg/stats/statstest"
)

func TestContainerOnFakeTrees(t *testing.T) {
	tests := []struct {
		desc    string
		unified bool
		wantPSI bool
	}{
		{desc: "cgroup v1 (hybrid host)", unified: false, wantPSI: true},
		{desc: "cgroup v2", unified: true, wantPSI: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			ft := newFakeTree(t, tc.unified)
			const path = "/kubepods/pod1/c1"
			// This test's own process stands in for the container's.
			if tc.unified {
				ft.v2Cgroup(t, path, os.Getpid())
			} else {
				ft.v1Cgroup(t, path, os.Getpid())
			}
			sys := t.TempDir()
			if err := os.MkdirAll(filepath.Join(sys, "dev", "block", "8:0"), 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(sys, "dev", "block", "8:0", "uevent"), "MAJOR=8\nMINOR=0\nDEVNAME=sda\n")
			mgr, err := cgroups.New(cgroups.Config{MountInfo: ft.mountinfo})
			if err != nil {
				t.Fatal(err)
			}
			oom, err := stats.NewCgroupOOM(mgr, ft.mountinfo)
			if err != nil {
				t.Fatal(err)
			}
			clock := newClock()
			layerRoot := t.TempDir()
			c, err := stats.New(stats.Options{Cgroups: mgr, OOM: oom, Now: clock.Now, SysRoot: sys,
				Layers: statstest.Layers{RootDir: layerRoot, Usages: map[string]snapshot.Usage{"c1": {Bytes: 4096, Inodes: 3}}}})
			if err != nil {
				t.Fatal(err)
			}
			cs, err := c.Container(context.Background(), stats.ContainerRef{ID: "c1", CgroupPath: path})
			if err != nil {
				t.Fatal(err)
			}
			if cs.Cgroup == nil {
				t.Fatal("no cgroup stats")
			}
			checkCPUMemory(t, cs.Cgroup)
			checkPSIIOProcs(t, cs.Cgroup, tc.wantPSI)
			checkLayerStats(t, cs, layerRoot)
		})
	}
}

// checkCPUMemory checks the CPU, memory and pids figures of the fake trees.
func checkCPUMemory(t *testing.T, cg *stats.CgroupStats) {
	t.Helper()
	if cg.CPU.UsageNanos != 3e9 || cg.CPU.UserNanos != 2e9 || cg.CPU.SystemNanos != 1e9 || cg.CPU.ThrottledPeriods != 2 ||
		cg.CPU.Shares != 1024 || cg.CPU.Quota != 20000 || cg.CPU.Period != 100000 {
		t.Errorf("cpu = %+v", cg.CPU)
	}
	if m := cg.Memory; m.Usage != 100<<20 || m.WorkingSet != 80<<20 || m.RSS != 60<<20 || m.Limit != 256<<20 || m.PageFaults != 7 || m.MajorPageFaults != 1 {
		t.Errorf("memory = %+v", m)
	}
	if cg.Pids.Current != 4 {
		t.Errorf("pids = %+v", cg.Pids)
	}
	if cg.NanoCores != nil {
		t.Errorf("nano cores from one sample = %d", *cg.NanoCores)
	}
}

// checkPSIIOProcs checks the pressure, block I/O and process figures of the
// fake trees.
func checkPSIIOProcs(t *testing.T, cg *stats.CgroupStats, wantPSI bool) {
	t.Helper()
	if (cg.PSI != nil) != wantPSI || (wantPSI && cg.PSI.Memory.Some.Total != 12345) {
		t.Errorf("psi = %+v", cg.PSI)
	}
	if len(cg.IO) != 1 || cg.IO[0] != (cgroups.IODevice{Major: 8, ReadBytes: 4096, WriteBytes: 8192, Reads: 1, Writes: 2}) ||
		len(cg.IODevices) != 1 || cg.IODevices[0] != "/dev/sda" {
		t.Errorf("io = %+v on %v", cg.IO, cg.IODevices)
	}
	if p := cg.Procs; p == nil || p.Processes != 1 || p.Threads == 0 || p.FDs == 0 || len(p.Ulimits) == 0 {
		t.Errorf("processes = %+v", p)
	}
}

// checkLayerStats checks the OOM count and the writable layer of the fake
// container.
func checkLayerStats(t *testing.T, cs *stats.ContainerStats, layerRoot string) {
	t.Helper()
	if cs.OOMKills != 2 {
		t.Errorf("oom kills = %d, want 2", cs.OOMKills)
	}
	if cs.WritableLayer == nil || cs.WritableLayer.Bytes != 4096 || cs.LayerRoot != layerRoot {
		t.Errorf("writable layer = %+v on %q", cs.WritableLayer, cs.LayerRoot)
	}
	if cs.LayerFS == nil || cs.LayerFS.Capacity == 0 || cs.LayerFS.Device == "" {
		t.Errorf("layer filesystem = %+v", cs.LayerFS)
	}
}

func TestUsageNanoCores(t *testing.T) {
	const path = "/pod/c"
	type step struct {
		advance time.Duration
		usage   uint64
		want    *uint64 // nil: no rate
	}
	u := func(v uint64) *uint64 { return &v }
	tests := []struct {
		desc  string
		steps []step
	}{
		{desc: "first sample has no rate", steps: []step{{usage: 5e9}}},
		{desc: "half a core over two seconds", steps: []step{{usage: 5e9}, {advance: 2 * time.Second, usage: 6e9, want: u(5e8)}}},
		{desc: "two cores", steps: []step{{usage: 0}, {advance: 10 * time.Second, usage: 20e9, want: u(2e9)}}},
		{desc: "a read right after another reuses its rate",
			steps: []step{{usage: 0}, {advance: 2 * time.Second, usage: 2e9, want: u(1e9)}, {advance: 10 * time.Millisecond, usage: 2e9, want: u(1e9)}, {advance: 2 * time.Second, usage: 2e9, want: u(0)}}},
		{desc: "a read right after the first has no rate yet", steps: []step{{usage: 0}, {advance: time.Millisecond, usage: 1e6}}},
		{desc: "a counter that went backwards starts over", steps: []step{{usage: 9e9}, {advance: 2 * time.Second, usage: 1e9}, {advance: 2 * time.Second, usage: 2e9, want: u(5e8)}}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			clock := newClock()
			cg := statstest.NewCgroups()
			c, err := stats.New(stats.Options{Cgroups: cg, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				clock.Advance(s.advance)
				cg.Set(path, &cgroups.Stats{CPU: cgroups.CPUStats{UsageNanos: s.usage}})
				cs, err := c.Container(context.Background(), stats.ContainerRef{ID: "c", CgroupPath: path})
				if err != nil {
					t.Fatal(err)
				}
				got := cs.Cgroup.NanoCores
				if (got == nil) != (s.want == nil) || (got != nil && *got != *s.want) {
					t.Fatalf("step %d: nano cores = %v, want %v", i, deref(got), deref(s.want))
				}
			}
		})
	}
}

func deref(p *uint64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestContainerCgroupFromBundle(t *testing.T) {
	tests := []struct {
		desc    string
		spec    string // "" writes no config.json
		wantErr error
		want    string
	}{
		{desc: "cgroupfs path", spec: `{"linux":{"cgroupsPath":"/kubepods/pod1/c1"}}`, want: "/kubepods/pod1/c1"},
		{desc: "systemd path", spec: `{"linux":{"cgroupsPath":"kubepods.slice:cricket:c1"}}`, want: "kubepods.slice:cricket:c1"},
		{desc: "no bundle", wantErr: errdefs.ErrNotFound},
		{desc: "spec without a cgroup", spec: `{"linux":{}}`, wantErr: errdefs.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			bundle := t.TempDir()
			if tc.spec != "" {
				write(t, filepath.Join(bundle, "config.json"), tc.spec)
			}
			cg := statstest.NewCgroups()
			cg.Set(tc.want, &cgroups.Stats{})
			c, _ := stats.New(stats.Options{Cgroups: cg})
			cs, err := c.Container(context.Background(), stats.ContainerRef{ID: "c1", Bundle: bundle})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if cs.Cgroup == nil {
				t.Fatal("cgroup not found")
			}
			// The path is remembered: the bundle may go away.
			if err := os.Remove(filepath.Join(bundle, "config.json")); err != nil {
				t.Fatal(err)
			}
			if cs, err = c.Container(context.Background(), stats.ContainerRef{ID: "c1", Bundle: bundle}); err != nil || cs.Cgroup == nil {
				t.Fatalf("second read: %v, %+v", err, cs)
			}
		})
	}
}

func TestPod(t *testing.T) {
	eth0 := []stats.Interface{{Name: "eth1", RxBytes: 1}, {Name: "eth0", RxBytes: 100, TxBytes: 200}}
	tests := []struct {
		desc          string
		ref           stats.PodRef
		podCgroup     bool
		wantNetwork   int
		wantCgroup    bool
		wantContainer []string
	}{
		{desc: "ready pod", ref: stats.PodRef{ID: "p", CgroupPath: "/pod", NetNS: "/run/netns/p"}, podCgroup: true, wantNetwork: 2, wantCgroup: true, wantContainer: []string{"a", "b"}},
		{desc: "host network", ref: stats.PodRef{ID: "p", CgroupPath: "/pod"}, podCgroup: true, wantCgroup: true, wantContainer: []string{"a", "b"}},
		{desc: "netns gone", ref: stats.PodRef{ID: "p", CgroupPath: "/pod", NetNS: "/run/netns/gone"}, podCgroup: true, wantCgroup: true, wantContainer: []string{"a", "b"}},
		{desc: "cgroup gone", ref: stats.PodRef{ID: "p", CgroupPath: "/pod"}, wantContainer: []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			cg := statstest.NewCgroups()
			if tc.podCgroup {
				cg.Set("/pod", &cgroups.Stats{})
			}
			cg.Set("/pod/a", &cgroups.Stats{})
			c, _ := stats.New(stats.Options{Cgroups: cg, Network: statstest.Network{"/run/netns/p": eth0}})
			refs := []stats.ContainerRef{{ID: "a", CgroupPath: "/pod/a"}, {ID: "b", CgroupPath: "/pod/b"}, {ID: "nobundle"}}
			ps, err := c.Pod(context.Background(), tc.ref, refs)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps.Network) != tc.wantNetwork || (ps.Cgroup != nil) != tc.wantCgroup {
				t.Fatalf("network %v, cgroup %v", ps.Network, ps.Cgroup)
			}
			if tc.wantNetwork > 0 && stats.Default(ps.Network).Name != "eth0" {
				t.Fatalf("default interface %v", stats.Default(ps.Network))
			}
			var ids []string
			for _, cs := range ps.Containers {
				ids = append(ids, cs.ID)
			}
			if len(ids) != len(tc.wantContainer) || ids[0] != "a" || ids[1] != "b" {
				t.Fatalf("containers %v, want %v", ids, tc.wantContainer)
			}
			if ps.Containers[0].Cgroup == nil || ps.Containers[1].Cgroup != nil {
				t.Fatal("running container a must have cgroup stats, created container b none")
			}
		})
	}
}
