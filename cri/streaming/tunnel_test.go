package streaming

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// TestPortForwardTunnel forwards through SPDY tunnelled in a WebSocket,
// as client-go's WebSocket port-forward does.
func TestPortForwardTunnel(t *testing.T) {
	l, port := listenLocal(t)
	serve(t, l, echoUntilEOF)
	rt := NewRuntime(fakeLookup{}, fakeLookup{netns: map[string]string{"p1": ""}})
	s := startTestServer(t, rt)
	resp, err := s.GetPortForward(&runtimeapi.PortForwardRequest{PodSandboxId: "p1", Port: []int32{port}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := websocket.NewConfig(strings.Replace(resp.Url, "http://", "ws://", 1), "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Protocol = []string{"SPDY/3.1+portforward.k8s.io"}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ws.PayloadType = websocket.BinaryFrame
	conn, err := spdy.NewClientConnection(ws)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := http.Header{}
	h.Set("port", strconv.Itoa(int(port)))
	h.Set("requestID", "0")
	h.Set("streamType", "error")
	errStream, err := conn.CreateStream(h)
	if err != nil {
		t.Fatal(err)
	}
	_ = errStream.Close()
	h.Set("streamType", "data")
	data, err := conn.CreateStream(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := data.Write([]byte("tunnelled")); err != nil {
		t.Fatal(err)
	}
	_ = data.Close() // half-close: the echo server answers at EOF
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(data)
		got <- string(b)
	}()
	select {
	case g := <-got:
		if g != "echo:tunnelled" {
			t.Fatalf("got %q", g)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer through the tunnel")
	}
}
