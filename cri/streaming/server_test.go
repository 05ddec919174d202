package streaming

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestServerURLs(t *testing.T) {
	l := fakeLookup{}
	s, err := NewServer(Config{Address: "127.0.0.1", Port: 0, IdleTimeout: time.Minute}, NewRuntime(l, l))
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer func() {
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}()
	if strings.HasSuffix(s.Addr(), ":0") {
		t.Fatalf("Addr = %s, want the real port", s.Addr())
	}
	exec, err := s.GetExec(&runtimeapi.ExecRequest{ContainerId: "c1", Cmd: []string{"sh"}, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	attach, err := s.GetAttach(&runtimeapi.AttachRequest{ContainerId: "c1", Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	pf, err := s.GetPortForward(&runtimeapi.PortForwardRequest{PodSandboxId: "p1", Port: []int32{80}})
	if err != nil {
		t.Fatal(err)
	}
	for kind, raw := range map[string]string{"exec": exec.Url, "attach": attach.Url, "portforward": pf.Url} {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "http" || u.Host != s.Addr() || !strings.HasPrefix(u.Path, "/"+kind+"/") {
			t.Errorf("%s URL %q (%v)", kind, raw, err)
		}
	}
	// A plain GET of the URL is no stream upgrade; an unknown token is 404.
	resp, err := http.Get("http://" + s.Addr() + "/exec/nosuchtoken")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown token: %s", resp.Status)
	}
	if _, err := s.GetExec(&runtimeapi.ExecRequest{ContainerId: "c1", Cmd: []string{"sh"}, Tty: true, Stderr: true}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("tty with stderr: %v, want InvalidArgument", err)
	}
}

func TestServerStopWithoutStart(t *testing.T) {
	l := fakeLookup{}
	s, err := NewServer(Config{}, NewRuntime(l, l))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Errorf("default address %s", s.Addr())
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
