package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// latencies collects RPC durations by method.
type latencies struct {
	mu sync.Mutex
	by map[string][]time.Duration
}

func (l *latencies) time(method string, fn func() error) error {
	start := time.Now()
	err := fn()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by == nil {
		l.by = map[string][]time.Duration{}
	}
	l.by[method] = append(l.by[method], time.Since(start))
	return err
}

// report logs p50, p90, p99 and max of each method.
func (l *latencies) report(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	methods := make([]string, 0, len(l.by))
	for m := range l.by {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	for _, m := range methods {
		ds := l.by[m]
		slices.Sort(ds)
		pct := func(p int) time.Duration { return ds[min(len(ds)-1, len(ds)*p/100)].Round(time.Millisecond) }
		t.Logf("%-24s n=%-4d p50 %-8v p90 %-8v p99 %-8v max %v", m, len(ds), pct(50), pct(90), pct(99), ds[len(ds)-1].Round(time.Millisecond))
	}
}

// loadSize reads CRICKET_LOAD_PODS and CRICKET_LOAD_EXECS; the defaults
// are the bounded CI run, the figures (50 and 20) the full one.
func loadSize(t *testing.T) (pods, execs int) {
	pods, execs = 16, 8
	for name, v := range map[string]*int{"CRICKET_LOAD_PODS": &pods, "CRICKET_LOAD_EXECS": &execs} {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				t.Fatalf("%s=%q: want a positive integer", name, s)
			}
			*v = n
		}
	}
	return pods, execs
}

// TestLoadConcurrentPodsAndExecs starts CRICKET_LOAD_PODS callers that
// each run RunPodSandbox + CreateContainer + StartContainer at once, then
// CRICKET_LOAD_EXECS concurrent exec streams (half ExecSync, half Exec
// through the streaming server, each several times), and expects no error
// at all; it logs every RPC's latency percentiles. Full size:
//
//	CRICKET_LOAD_PODS=50 CRICKET_LOAD_EXECS=20 ... -run TestLoadConcurrentPodsAndExecs -v
func TestLoadConcurrentPodsAndExecs(t *testing.T) {
	nPods, nExecs := loadSize(t)
	d := startPodDaemon(t)
	rt := d.Runtime()
	var lat latencies
	ctrIDs := make([]string, nPods)
	podIDs := make([]string, nPods)
	errs := make(chan error, nPods+nExecs*10)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < nPods; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			podIDs[i], ctrIDs[i] = loadPod(t, rt, &lat, i, errs)
		}(i)
	}
	wg.Wait()
	t.Logf("%d pods with a running container in %v", nPods, time.Since(start).Round(time.Millisecond))
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		lat.report(t)
		t.FailNow()
	}

	errs = make(chan error, nExecs*10)
	start = time.Now()
	for i := 0; i < nExecs; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := ctrIDs[i%nPods]
			for j := 0; j < 5; j++ {
				want := fmt.Sprintf("exec-%d-%d", i, j)
				var err error
				if i%2 == 0 {
					err = loadExecSync(rt, &lat, id, want)
				} else {
					err = loadExecStream(rt, &lat, id, want)
				}
				if err != nil {
					errs <- fmt.Errorf("exec stream %d round %d in %s: %w", i, j, id[:12], err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	t.Logf("%d concurrent exec streams x 5 in %v", nExecs, time.Since(start).Round(time.Millisecond))
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Teardown under load too.
	errs = make(chan error, nPods)
	for i := 0; i < nPods; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx := context.Background()
			if err := lat.time("StopPodSandbox", func() error {
				_, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podIDs[i]})
				return err
			}); err != nil {
				errs <- err
				return
			}
			if err := lat.time("RemovePodSandbox", func() error {
				_, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podIDs[i]})
				return err
			}); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	lat.report(t)
	if l := leaks(t, d, podIDs, nil); len(l) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(l, "\n"))
	}
}

// loadPod runs pod i with a sleeping container and returns their IDs.
func loadPod(t *testing.T, rt runtimeapi.RuntimeServiceClient, lat *latencies, i int, errs chan<- error) (podID, ctrID string) {
	ctx := context.Background()
	pod := testPod(t, fmt.Sprintf("load-%d", i), runtimeapi.NamespaceMode_CONTAINER)
	err := lat.time("RunPodSandbox", func() error {
		resp, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: pod})
		if err == nil {
			podID = resp.PodSandboxId
		}
		return err
	})
	if err != nil {
		errs <- fmt.Errorf("RunPodSandbox %d: %w", i, err)
		return "", ""
	}
	err = lat.time("CreateContainer", func() error {
		resp, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: testContainer("app", "sleep 1000"), SandboxConfig: pod})
		if err == nil {
			ctrID = resp.ContainerId
		}
		return err
	})
	if err != nil {
		errs <- fmt.Errorf("CreateContainer %d: %w", i, err)
		return podID, ""
	}
	err = lat.time("StartContainer", func() error {
		_, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ctrID})
		return err
	})
	if err != nil {
		errs <- fmt.Errorf("StartContainer %d: %w", i, err)
	}
	return podID, ctrID
}

func loadExecSync(rt runtimeapi.RuntimeServiceClient, lat *latencies, id, want string) error {
	var resp *runtimeapi.ExecSyncResponse
	err := lat.time("ExecSync", func() (err error) {
		resp, err = rt.ExecSync(context.Background(), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"echo", want}, Timeout: 30})
		return err
	})
	if err != nil {
		return err
	}
	if resp.ExitCode != 0 || strings.TrimSpace(string(resp.Stdout)) != want {
		return fmt.Errorf("ExecSync: exit %d, stdout %q, stderr %q", resp.ExitCode, resp.Stdout, resp.Stderr)
	}
	return nil
}

// loadExecStream runs echo through Exec and the streaming server's
// WebSocket (v5.channel.k8s.io) protocol, the way kubectl exec does.
func loadExecStream(rt runtimeapi.RuntimeServiceClient, lat *latencies, id, want string) error {
	var url string
	if err := lat.time("Exec", func() error {
		resp, err := rt.Exec(context.Background(), &runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"echo", want}, Stdout: true, Stderr: true})
		if err == nil {
			url = resp.Url
		}
		return err
	}); err != nil {
		return err
	}
	var got map[byte]string
	if err := lat.time("Exec stream (echo)", func() (err error) {
		got, err = readV5Session(url)
		return err
	}); err != nil {
		return err
	}
	var st struct{ Status string }
	if err := json.Unmarshal([]byte(got[3]), &st); err != nil || st.Status != "Success" {
		return fmt.Errorf("exec stream status %q (%v), stderr %q", got[3], err, got[2])
	}
	if strings.TrimSpace(got[1]) != want {
		return fmt.Errorf("exec stream stdout %q, want %q", got[1], want)
	}
	return nil
}

// readV5Session dials an exec URL with the v5 channel protocol and
// collects each channel's bytes until the server closes the session.
func readV5Session(url string) (map[byte]string, error) {
	cfg, err := websocket.NewConfig(strings.Replace(url, "http://", "ws://", 1), "http://localhost/")
	if err != nil {
		return nil, err
	}
	cfg.Protocol = []string{"v5.channel.k8s.io"}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	defer ws.Close()
	_ = ws.SetDeadline(time.Now().Add(time.Minute))
	got := map[byte]string{}
	for {
		var msg []byte
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			return got, nil
		}
		if len(msg) > 0 {
			got[msg[0]] += string(msg[1:])
		}
	}
}
