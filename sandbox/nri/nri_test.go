package nri

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	api "github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/sandbox/container"
)

type fakePods []*sandbox.Sandbox

func (f fakePods) Get(id string) (*sandbox.Sandbox, error) {
	for _, sb := range f {
		if sb.ID == id {
			return sb, nil
		}
	}
	return nil, context.Canceled
}

func (f fakePods) List(sandbox.Filter) []*sandbox.Sandbox { return f }

type fakeContainers []*container.Container

func (f fakeContainers) List(container.Filter) []*container.Container { return f }

// plugin synchronizes, then adds an env var to each container it sees
// created.
type plugin struct {
	synced  chan []string
	created chan string
}

func (p *plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	var ids []string
	for _, x := range pods {
		ids = append(ids, "pod:"+x.GetId())
	}
	for _, x := range ctrs {
		ids = append(ids, "ctr:"+x.GetId())
	}
	p.synced <- ids
	return nil, nil
}

func (p *plugin) CreateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	p.created <- pod.GetName() + "/" + c.GetName()
	adj := &api.ContainerAdjustment{}
	adj.AddEnv("FROM_PLUGIN", "1")
	return adj, nil, nil
}

func TestNRIWithPlugin(t *testing.T) {
	pod := &sandbox.Sandbox{Metadata: sandbox.Metadata{ID: "p1", Config: &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "web"},
	}}}
	old := &container.Container{Metadata: container.Metadata{ID: "c0", PodID: "p1", Config: &runtimeapi.ContainerConfig{}}}
	socket := filepath.Join(t.TempDir(), "nri.sock")
	n := New(Config{SocketPath: socket, PluginPath: t.TempDir(), PluginConfigPath: t.TempDir(), RequestTimeout: 5 * time.Second})
	if err := n.Start(fakePods{pod}, fakeContainers{old}); err != nil {
		t.Fatal(err)
	}
	defer n.Stop()

	p := &plugin{synced: make(chan []string, 1), created: make(chan string, 1)}
	s, err := stub.New(p, stub.WithPluginName("test"), stub.WithPluginIdx("10"), stub.WithSocketPath(socket))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	defer s.Stop()

	select {
	case got := <-p.synced:
		if want := []string{"pod:p1", "ctr:c0"}; !slices.Equal(got, want) {
			t.Errorf("synchronized %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("plugin was not synchronized")
	}
	// The plugin is registered once its Synchronize returned; wait for it.
	spec := &specs.Spec{Process: &specs.Process{Env: []string{"PATH=/bin"}}}
	c := &container.Container{Metadata: container.Metadata{ID: "c1", PodID: "p1", Config: &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "app"},
	}}}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(spec.Process.Env, "FROM_PLUGIN=1") && time.Now().Before(deadline) {
		if err := n.CreateContainer(context.Background(), c, spec); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !slices.Contains(spec.Process.Env, "FROM_PLUGIN=1") {
		t.Fatalf("env = %q, want the plugin's adjustment", spec.Process.Env)
	}
	if got := <-p.created; got != "web/app" {
		t.Errorf("plugin saw %q", got)
	}
}

func TestNRINotStarted(t *testing.T) {
	n := New(Config{})
	c := &container.Container{Metadata: container.Metadata{ID: "c1", Config: &runtimeapi.ContainerConfig{}}}
	spec := &specs.Spec{}
	if err := n.CreateContainer(context.Background(), c, spec); err != nil {
		t.Errorf("CreateContainer = %v", err)
	}
	if err := n.RunPodSandbox(context.Background(), &sandbox.Sandbox{}); err != nil {
		t.Errorf("RunPodSandbox = %v", err)
	}
	n.BlockSync()()
	n.Stop()
}

func TestPluginErrorConverts(t *testing.T) {
	refused := errors.New("refused")
	n := New(Config{PluginError: func(err error) error { return fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition) }})
	if err := n.pluginError(refused); !errors.Is(err, errdefs.ErrFailedPrecondition) || !errors.Is(err, refused) {
		t.Errorf("pluginError = %v, want the converted error", err)
	}
	if err := n.pluginError(nil); err != nil {
		t.Errorf("pluginError(nil) = %v", err)
	}
	if err := New(Config{}).pluginError(refused); err != refused {
		t.Errorf("without PluginError: %v, want the error as it is", err)
	}
}

func TestReconfigureServesAgain(t *testing.T) {
	pod := &sandbox.Sandbox{Metadata: sandbox.Metadata{ID: "p1", Config: &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "web"},
	}}}
	socket := filepath.Join(t.TempDir(), "nri.sock")
	n := New(Config{SocketPath: socket, PluginPath: t.TempDir(), RequestTimeout: 5 * time.Second})
	if err := n.Start(fakePods{pod}, fakeContainers{}); err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if err := n.Reconfigure(Config{SocketPath: "/elsewhere.sock", PluginPath: t.TempDir(), RequestTimeout: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	p := &plugin{synced: make(chan []string, 1), created: make(chan string, 1)}
	// The socket stays where it was: it is not reconfigurable.
	s, err := stub.New(p, stub.WithPluginName("test"), stub.WithPluginIdx("10"), stub.WithSocketPath(socket))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	defer s.Stop()
	select {
	case got := <-p.synced:
		if want := []string{"pod:p1"}; !slices.Equal(got, want) {
			t.Errorf("synchronized %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a plugin connecting after Reconfigure was not synchronized")
	}
}
