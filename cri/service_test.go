package cri

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/network/networktest"
	"github.com/cricket-cri/cricket/pkg/errdefs"
)

type testEnv struct {
	svc     *Service
	net     *networktest.Fake
	runtime runtimeapi.RuntimeServiceClient
	image   runtimeapi.ImageServiceClient
}

// newTestEnv serves a Service with fakes over an in-memory connection,
// through the same interceptors as the daemon.
func newTestEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	fake := &networktest.Fake{}
	svc := New(cfg, Deps{Network: fake})
	srv := grpc.NewServer(ServerOptions(1<<20, 1<<20)...)
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
	return &testEnv{svc: svc, net: fake, runtime: runtimeapi.NewRuntimeServiceClient(conn), image: runtimeapi.NewImageServiceClient(conn)}
}

var testConfig = Config{
	RuntimeVersion: "v1.2.3",
	CgroupDriver:   "cgroupfs",
	Handlers:       []Handler{{Name: "cricket"}, {Name: "runc"}},
}

func TestVersion(t *testing.T) {
	env := newTestEnv(t, testConfig)
	resp, err := env.runtime.Version(context.Background(), &runtimeapi.VersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.RuntimeName != "cricket" || resp.RuntimeApiVersion != "v1" || resp.RuntimeVersion != "v1.2.3" {
		t.Errorf("Version = %+v", resp)
	}
}

func TestStatus(t *testing.T) {
	cases := []struct {
		desc       string
		netErr     error
		wantReady  bool
		wantReason string
	}{
		{desc: "network ready", wantReady: true},
		{desc: "no CNI config", netErr: errors.New("no CNI network configuration found"), wantReason: "NetworkPluginNotReady"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			env := newTestEnv(t, testConfig)
			env.net.StatusErr = tc.netErr
			resp, err := env.runtime.Status(context.Background(), &runtimeapi.StatusRequest{Verbose: true})
			if err != nil {
				t.Fatal(err)
			}
			conds := map[string]*runtimeapi.RuntimeCondition{}
			for _, c := range resp.Status.Conditions {
				conds[c.Type] = c
			}
			if c := conds[runtimeapi.RuntimeReady]; c == nil || !c.Status {
				t.Errorf("RuntimeReady = %v", c)
			}
			c := conds[runtimeapi.NetworkReady]
			if c == nil || c.Status != tc.wantReady || c.Reason != tc.wantReason {
				t.Errorf("NetworkReady = %v, want status %v reason %q", c, tc.wantReady, tc.wantReason)
			}
			if tc.netErr != nil && c.Message == "" {
				t.Error("NetworkReady false without a message")
			}
			var names []string
			for _, h := range resp.RuntimeHandlers {
				names = append(names, h.Name)
			}
			if fmt.Sprint(names) != "[ cricket runc]" {
				t.Errorf("handlers = %q", names)
			}
			if resp.Info["config"] == "" {
				t.Error("verbose status has no config info")
			}
		})
	}
}

func TestRuntimeConfig(t *testing.T) {
	cases := []struct {
		desc   string
		driver string
		want   runtimeapi.CgroupDriver
	}{
		{desc: "cgroupfs is explicit", driver: "cgroupfs", want: runtimeapi.CgroupDriver_CGROUPFS},
		{desc: "systemd", driver: "systemd", want: runtimeapi.CgroupDriver_SYSTEMD},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := testConfig
			cfg.CgroupDriver = tc.driver
			env := newTestEnv(t, cfg)
			resp, err := env.runtime.RuntimeConfig(context.Background(), &runtimeapi.RuntimeConfigRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.GetLinux().GetCgroupDriver(); got != tc.want {
				t.Errorf("cgroup driver = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUpdateRuntimeConfig(t *testing.T) {
	cases := []struct {
		desc     string
		cidr     string
		setErr   error
		wantCode codes.Code
		wantCIDR string
	}{
		{desc: "stores the pod CIDR", cidr: "10.88.0.0/16", wantCIDR: "10.88.0.0/16"},
		{desc: "empty CIDR is no change", cidr: ""},
		{desc: "invalid CIDR", cidr: "nope", setErr: fmt.Errorf("pod CIDR: %w", errdefs.ErrInvalidArgument), wantCode: codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			env := newTestEnv(t, testConfig)
			env.net.SetErr = tc.setErr
			_, err := env.runtime.UpdateRuntimeConfig(context.Background(), &runtimeapi.UpdateRuntimeConfigRequest{
				RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: tc.cidr}},
			})
			if got := status.Code(err); got != tc.wantCode {
				t.Fatalf("code = %v, want %v (%v)", got, tc.wantCode, err)
			}
			if got := env.net.PodCIDR(); got != tc.wantCIDR {
				t.Errorf("pod CIDR = %q, want %q", got, tc.wantCIDR)
			}
		})
	}
}

func TestUnimplementedRPCsNameThemselves(t *testing.T) {
	env := newTestEnv(t, testConfig)
	_, err := env.runtime.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("code = %v, want Unimplemented", status.Code(err))
	}
	if msg := status.Convert(err).Message(); !containsAll(msg, "RunPodSandbox", "not implement") {
		t.Errorf("message %q does not name the RPC", msg)
	}
	stream, err := env.runtime.GetContainerEvents(context.Background(), &runtimeapi.GetEventsRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("streaming RPC code = %v, want Unimplemented", status.Code(err))
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !contains(s, sub) {
			return false
		}
	}
	return true
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
