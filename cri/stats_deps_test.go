package cri

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/cri/events"
	"github.com/cricket-cri/cricket/network/networktest"
	"github.com/cricket-cri/cricket/pkg/cgroups"
	"github.com/cricket-cri/cricket/pkg/snapshot"
	"github.com/cricket-cri/cricket/pkg/stats"
	"github.com/cricket-cri/cricket/pkg/stats/statstest"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

// statsEnv serves the real sandbox and container services over fakes, a
// stats collector over fake cgroups, network and layers, and an event
// broker, through the daemon's interceptors.
type statsEnv struct {
	sbs     *sandbox.Service
	ctrs    *container.Service
	cgroups *statstest.Cgroups
	layers  statstest.Layers
	broker  *events.Broker
	runtime runtimeapi.RuntimeServiceClient

	mu  sync.Mutex
	now time.Time
}

func newStatsEnv(t *testing.T) *statsEnv {
	t.Helper()
	ps := newPodServices(t)
	sbs, ctrs := ps.sbs, ps.ctrs
	e := &statsEnv{
		sbs: sbs, ctrs: ctrs, cgroups: statstest.NewCgroups(), now: time.Unix(1_700_000_000, 0),
		layers: statstest.Layers{RootDir: "/var/lib/cricket/snapshots", Usages: map[string]snapshot.Usage{}},
	}
	collector, err := stats.New(stats.Options{
		Cgroups: e.cgroups, Layers: e.layers, Network: netnsCounters{}, OOM: statstest.OOM{}, Now: e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.broker = events.New(events.Options{Statuses: EventStatuses(sbs, ctrs)})
	svc := New(testConfig, Deps{Network: &networktest.Fake{}, Pods: sbs, Containers: ctrs, Stats: collector, Events: e.broker})
	e.runtime = serveForTest(t, svc)
	return e
}

// netnsCounters gives every pod namespace an eth0 with fixed counters.
type netnsCounters struct{}

func (netnsCounters) Interfaces(string) ([]stats.Interface, error) {
	return []stats.Interface{{Name: "eth0", RxBytes: 1000, TxBytes: 2000}}, nil
}

func (e *statsEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *statsEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func serveForTest(t *testing.T, svc *Service) runtimeapi.RuntimeServiceClient {
	t.Helper()
	srv := grpc.NewServer(ServerOptions(16<<20, 16<<20)...)
	svc.Register(srv)
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return runtimeapi.NewRuntimeServiceClient(conn)
}

func statsPodConfig(name string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "ns", Uid: "uid-" + name},
		Labels:   map[string]string{"pod": name},
		Linux:    &runtimeapi.LinuxPodSandboxConfig{CgroupParent: "/kubepods"},
	}
}

// pod runs a pod whose cgroup exists with 2 processes.
func (e *statsEnv) pod(t *testing.T, name string) string {
	t.Helper()
	resp, err := e.runtime.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: statsPodConfig(name)})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := e.sbs.Get(resp.PodSandboxId)
	if err != nil {
		t.Fatal(err)
	}
	e.cgroups.Set(sb.CgroupPath, &cgroups.Stats{Pids: cgroups.PidsStats{Current: 2}})
	return resp.PodSandboxId
}

// container creates a container in pod; with running set it is started
// and its cgroup exists.
func (e *statsEnv) container(t *testing.T, podID, podName, name string, running bool) string {
	t.Helper()
	ctx := context.Background()
	resp, err := e.runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: podID, SandboxConfig: statsPodConfig(podName),
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name},
			Image:    &runtimeapi.ImageSpec{Image: "busybox"},
			Labels:   map[string]string{"ctr": name},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ContainerId
	e.layers.Usages[id] = snapshot.Usage{Bytes: 8192, Inodes: 5}
	if !running {
		return id
	}
	if _, err := e.runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	e.cgroups.Set(e.cgroupOf(t, id), &cgroups.Stats{
		CPU:    cgroups.CPUStats{UsageNanos: 4e9},
		Memory: cgroups.MemoryStats{Usage: 100 << 20, WorkingSet: 80 << 20, RSS: 60 << 20, Limit: 128 << 20, PageFaults: 9},
		Pids:   cgroups.PidsStats{Current: 1},
	})
	return id
}

// cgroupOf reads the container's cgroup from its bundle, as the collector
// does.
func (e *statsEnv) cgroupOf(t *testing.T, id string) string {
	t.Helper()
	c, err := e.ctrs.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(c.Bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Linux struct {
			CgroupsPath string `json:"cgroupsPath"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	return spec.Linux.CgroupsPath
}

func TestBatcher(t *testing.T) {
	tests := []struct {
		desc  string
		items int
		n     int
		want  []int
	}{
		{desc: "nothing sends nothing", items: 0, n: 3},
		{desc: "exact batches", items: 6, n: 3, want: []int{3, 3}},
		{desc: "a short last batch", items: 7, n: 3, want: []int{3, 3, 1}},
		{desc: "one short batch", items: 2, n: 3, want: []int{2}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var got []int
			b := &batcher[int]{n: tc.n, send: func(items []int) error { got = append(got, len(items)); return nil }}
			for i := range tc.items {
				if err := b.add(i); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.flush(); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("batches %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("batches %v, want %v", got, tc.want)
				}
			}
		})
	}
}
