package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/version"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// fakeExec plays CNI plugins: it records every call and answers ADD like a
// bridge with host-local IPAM would.
type fakeExec struct {
	netns string // CNI_NETNS of the last call
	mu    sync.Mutex
	calls []string // "<plugin> <COMMAND> <containerID>"
	stdin map[string][]byte
	fail  map[string]error // "<plugin> <COMMAND>" -> error
}

func newFakeExec() *fakeExec {
	return &fakeExec{stdin: map[string][]byte{}, fail: map[string]error{}}
}

func envValue(environ []string, key string) string {
	for _, kv := range environ {
		if strings.HasPrefix(kv, key+"=") {
			return strings.TrimPrefix(kv, key+"=")
		}
	}
	return ""
}

func (f *fakeExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	plugin, cmd := filepath.Base(pluginPath), envValue(environ, "CNI_COMMAND")
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s %s %s", plugin, cmd, envValue(environ, "CNI_CONTAINERID")))
	f.netns = envValue(environ, "CNI_NETNS")
	f.stdin[plugin+" "+cmd] = stdin
	err := f.fail[plugin+" "+cmd]
	f.mu.Unlock()
	if err != nil || cmd != "ADD" {
		return nil, err
	}
	switch plugin {
	case "loopback":
		return []byte(`{"cniVersion":"1.0.0","interfaces":[{"name":"lo","sandbox":"/ns"}],"ips":[{"address":"127.0.0.1/8","interface":0}]}`), nil
	case "bridge":
		return []byte(`{"cniVersion":"1.0.0","interfaces":[{"name":"cricket0"},{"name":"veth1"},{"name":"eth0","sandbox":"/ns"}],` +
			`"ips":[{"address":"10.89.0.1/16","interface":0},{"address":"fd00::5/64","interface":2},{"address":"10.89.0.5/16","interface":2,"gateway":"10.89.0.1"}]}`), nil
	default: // chained plugins pass the previous result on
		var conf struct {
			PrevResult json.RawMessage `json:"prevResult"`
		}
		_ = json.Unmarshal(stdin, &conf)
		return conf.PrevResult, nil
	}
}

func (f *fakeExec) FindInPath(plugin string, paths []string) (string, error) {
	return filepath.Join("/fake", plugin), nil
}

func (f *fakeExec) Decode(b []byte) (version.PluginInfo, error) {
	return version.PluginSupports("1.0.0"), nil
}

func (f *fakeExec) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func newTestCNI(t *testing.T, exec *fakeExec) *CNI {
	t.Helper()
	dir := t.TempDir()
	m, err := New(Options{
		ConfDir: filepath.Join(dir, "net.d"), BinDirs: []string{"/fake"},
		DataDir: filepath.Join(dir, "cni"), DefaultSubnet: DefaultPodSubnet, Exec: exec,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSetupAndTeardown(t *testing.T) {
	exec := newFakeExec()
	m := newTestCNI(t, exec)
	pod := &Pod{
		ID: "pod1", Name: "web", Namespace: "default", UID: "uid1", NetNS: "/proc/self/ns/net",
		PortMappings: []PortMapping{{Protocol: "TCP", ContainerPort: 80, HostPort: 8080, HostIP: "127.0.0.1"}},
		Annotations:  map[string]string{IngressBandwidthAnnotation: "10M"},
	}
	res, err := m.Setup(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.IPs); got != "[10.89.0.5 fd00::5]" {
		t.Errorf("IPs = %s, want the pod's IPv4 first and no host-side address", got)
	}
	// The loopback ADD runs alongside the pod network's chain, whose
	// plugins keep their order.
	calls := exec.Calls()
	chain := slices.DeleteFunc(slices.Clone(calls), func(c string) bool { return c == "loopback ADD pod1" })
	want := []string{"bridge ADD pod1", "portmap ADD pod1", "bandwidth ADD pod1"}
	if !reflect.DeepEqual(chain, want) || len(calls) != len(want)+1 {
		t.Errorf("calls = %q, want loopback ADD pod1 and, in order, %q", calls, want)
	}
	var portmap struct {
		RuntimeConfig struct {
			PortMappings []map[string]any `json:"portMappings"`
		} `json:"runtimeConfig"`
	}
	if err := json.Unmarshal(exec.stdin["portmap ADD"], &portmap); err != nil {
		t.Fatal(err)
	}
	if pm := portmap.RuntimeConfig.PortMappings; len(pm) != 1 || pm[0]["protocol"] != "tcp" || pm[0]["hostPort"] != float64(8080) || pm[0]["hostIP"] != "127.0.0.1" {
		t.Errorf("portmap runtimeConfig = %v", pm)
	}
	if !strings.Contains(string(exec.stdin["bandwidth ADD"]), `"ingressRate":10000000`) {
		t.Errorf("bandwidth stdin lacks the ingress rate: %s", exec.stdin["bandwidth ADD"])
	}
	if !strings.Contains(string(exec.stdin["bridge ADD"]), `"K8S_POD_NAME"`) && !strings.Contains(strings.Join(exec.Calls(), ""), "pod1") {
		t.Error("pod identity not passed")
	}

	exec.calls = nil
	if err := m.Teardown(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	want = []string{"bandwidth DEL pod1", "portmap DEL pod1", "bridge DEL pod1", "loopback DEL pod1"}
	if got := exec.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("teardown calls = %q, want %q", got, want)
	}
}

func TestSetupRollsBackOnFailure(t *testing.T) {
	// Either ADD failing undoes both: they run side by side.
	for _, fail := range []string{"portmap ADD", "loopback ADD"} {
		t.Run(fail, func(t *testing.T) {
			exec := newFakeExec()
			exec.fail[fail] = errors.New("plugin failed: " + fail)
			m := newTestCNI(t, exec)
			_, err := m.Setup(context.Background(), &Pod{ID: "pod1", NetNS: "/proc/self/ns/net"})
			if err == nil || !strings.Contains(err.Error(), "plugin failed: "+fail) {
				t.Fatalf("err = %v", err)
			}
			calls := strings.Join(exec.Calls(), ",")
			for _, want := range []string{"bridge DEL pod1", "loopback DEL pod1"} {
				if !strings.Contains(calls, want) {
					t.Errorf("rollback lacks %q: %s", want, calls)
				}
			}
		})
	}
}

func TestSetupFailureAfterContextEndKeepsItsCause(t *testing.T) {
	// libcni reports a plugin the context's end killed as text only.
	canceled := func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	expired := func() context.Context {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		t.Cleanup(cancel)
		return ctx
	}
	for _, tc := range []struct {
		desc string
		fail string
		ctx  func() context.Context
		want error // nil: neither context error
	}{
		{desc: "canceled during loopback ADD", fail: "loopback ADD", ctx: canceled, want: context.Canceled},
		{desc: "deadline during bridge ADD", fail: "bridge ADD", ctx: expired, want: context.DeadlineExceeded},
		{desc: "failure with the context alive", fail: "bridge ADD", ctx: context.Background},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			exec := newFakeExec()
			exec.fail[tc.fail] = errors.New("netplugin failed with no error message: context ended")
			_, err := newTestCNI(t, exec).Setup(tc.ctx(), &Pod{ID: "pod1", NetNS: "/proc/self/ns/net"})
			if err == nil || !strings.Contains(err.Error(), "netplugin failed") {
				t.Fatalf("err = %v, want the plugin's message", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want one that is %v", err, tc.want)
			}
			if tc.want == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
				t.Errorf("err = %v is a context error; the context was alive", err)
			}
		})
	}
}

func TestSetupRejectsBadBandwidth(t *testing.T) {
	m := newTestCNI(t, newFakeExec())
	_, err := m.Setup(context.Background(), &Pod{ID: "p", Annotations: map[string]string{EgressBandwidthAnnotation: "fast"}})
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("err = %v, want InvalidArgument", err)
	}
}

func TestTeardownMissingNetnsStillReleases(t *testing.T) {
	exec := newFakeExec()
	m := newTestCNI(t, exec)
	pod := &Pod{ID: "pod1", NetNS: "/proc/self/ns/net"}
	if _, err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	exec.calls = nil
	pod.NetNS = filepath.Join(t.TempDir(), "gone")
	if err := m.Teardown(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	calls := strings.Join(exec.Calls(), ",")
	if !strings.Contains(calls, "bridge DEL pod1") {
		t.Errorf("IPs not released when the netns is gone: %s", calls)
	}
}

// TestTeardownUnmountedPinStillReleases: a pin file whose bind mount a
// crash undid (killed mid-StopPodSandbox) is no netns; plugins refuse it
// ("unknown FS magic"), so DEL goes without one (found by test/fault:
// StopPodSandbox failed forever).
func TestTeardownUnmountedPinStillReleases(t *testing.T) {
	exec := newFakeExec()
	m := newTestCNI(t, exec)
	pod := &Pod{ID: "pod1", NetNS: "/proc/self/ns/net"}
	if _, err := m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if exec.netns != "/proc/self/ns/net" {
		t.Fatalf("ADD got netns %q", exec.netns)
	}
	pod.NetNS = filepath.Join(t.TempDir(), "net")
	if err := os.WriteFile(pod.NetNS, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if exec.netns != "" {
		t.Errorf("DEL got netns %q, a plain file", exec.netns)
	}
}

func TestGCRemovesWhatNoPodOwns(t *testing.T) {
	exec := newFakeExec()
	m := newTestCNI(t, exec)
	for _, id := range []string{"live", "dead"} {
		if _, err := m.Setup(context.Background(), &Pod{ID: id, NetNS: "/proc/self/ns/net"}); err != nil {
			t.Fatal(err)
		}
	}
	// An allocation left by an ADD cut short before the cache was written.
	ipam := filepath.Join(m.opts.DataDir, "networks", DefaultNetworkName)
	if err := os.MkdirAll(ipam, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ipam, "10.89.0.9"), []byte("crashed\neth0"), 0o600); err != nil {
		t.Fatal(err)
	}
	exec.calls = nil
	if err := m.GC(context.Background(), map[string]bool{"live": true}); err != nil {
		t.Fatal(err)
	}
	calls := strings.Join(exec.Calls(), ",")
	for _, want := range []string{"bridge DEL dead", "bridge DEL crashed"} {
		if !strings.Contains(calls, want) {
			t.Errorf("GC lacks %q: %s", want, calls)
		}
	}
	if strings.Contains(calls, "live") {
		t.Errorf("GC touched a live pod: %s", calls)
	}
}

func TestDefaultConfigUsesPodCIDR(t *testing.T) {
	m := newTestCNI(t, newFakeExec())
	list, source, err := m.LoadConfig()
	if err != nil || source != "embedded default" || !strings.Contains(string(list.Bytes), DefaultPodSubnet) {
		t.Fatalf("default config: %v %q", err, source)
	}
	if err := m.SetPodCIDR("10.200.0.0/24"); err != nil {
		t.Fatal(err)
	}
	list, _, _ = m.LoadConfig()
	if !strings.Contains(string(list.Bytes), "10.200.0.0/24") {
		t.Errorf("pod CIDR not used: %s", list.Bytes)
	}
}

func TestDeployConflistIsDefault(t *testing.T) {
	want, err := DefaultConflist(DefaultPodSubnet, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../deploy/cni/10-cricket.conflist")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(got)) != string(want) {
		t.Errorf("deploy/cni/10-cricket.conflist differs from the embedded default:\n%s", want)
	}
}

func TestParseQuantity(t *testing.T) {
	cases := []struct {
		desc string
		in   string
		want int64
		err  bool
	}{
		{desc: "plain", in: "1000", want: 1000},
		{desc: "decimal suffix", in: "10M", want: 10_000_000},
		{desc: "binary suffix", in: "1Ki", want: 1024},
		{desc: "fraction", in: "1.5k", want: 1500},
		{desc: "garbage", in: "fast", err: true},
		{desc: "negative", in: "-1M", err: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := parseQuantity(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("parseQuantity(%q) = %d, %v", tc.in, got, err)
			}
		})
	}
}
