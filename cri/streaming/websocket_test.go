package streaming

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// startTestServer serves a Runtime over fakes and stops it with the test.
func startTestServer(t *testing.T, rt *Runtime) *Server {
	t.Helper()
	s, err := NewServer(Config{}, rt)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s
}

// dialV5 opens the session at url with the v5 channel protocol.
func dialV5(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	cfg, err := websocket.NewConfig(strings.Replace(url, "http://", "ws://", 1), "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Protocol = []string{v5Protocol}
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	_ = ws.SetDeadline(time.Now().Add(10 * time.Second))
	return ws
}

// readChannels collects the frames of each channel until the connection
// closes.
func readChannels(t *testing.T, ws *websocket.Conn) map[byte]string {
	t.Helper()
	got := map[byte]string{}
	for {
		var msg []byte
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			return got
		}
		if len(msg) > 0 {
			got[msg[0]] += string(msg[1:])
		}
	}
}

func TestWebSocketV5Exec(t *testing.T) {
	cases := []struct {
		desc       string
		code       int
		wantStatus string
		wantReason string
	}{
		{desc: "success", wantStatus: "Success"},
		{desc: "exit code", code: 3, wantStatus: "Failure", wantReason: "NonZeroExitCode"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			rt, sh := newTestRuntime(Target{ID: "c1"})
			sh.code = tc.code
			s := startTestServer(t, rt)
			resp, err := s.GetExec(&runtimeapi.ExecRequest{ContainerId: "c1", Cmd: []string{"sh"}, Stdout: true})
			if err != nil {
				t.Fatal(err)
			}
			got := readChannels(t, dialV5(t, resp.Url))
			if got[chanStdout] != "hello" {
				t.Errorf("stdout = %q", got[chanStdout])
			}
			var st wsStatus
			if err := json.Unmarshal([]byte(got[chanError]), &st); err != nil {
				t.Fatalf("status %q: %v", got[chanError], err)
			}
			if st.Status != tc.wantStatus || st.Reason != tc.wantReason {
				t.Errorf("status = %+v", st)
			}
			if tc.code != 0 && (st.Details == nil || st.Details.Causes[0].Message != "3") {
				t.Errorf("exit code not in the status: %+v", st)
			}
			// A URL serves one session.
			r2, err := http.Get(resp.Url)
			if err != nil {
				t.Fatal(err)
			}
			r2.Body.Close()
			if r2.StatusCode != http.StatusNotFound {
				t.Errorf("second use of the URL: %s", r2.Status)
			}
		})
	}
}

func TestWebSocketV5Attach(t *testing.T) {
	rt, sh := newTestRuntime(Target{ID: "c1", Stdin: true})
	s := startTestServer(t, rt)
	resp, err := s.GetAttach(&runtimeapi.AttachRequest{ContainerId: "c1", Stdout: true, Stdin: true})
	if err != nil {
		t.Fatal(err)
	}
	got := readChannels(t, dialV5(t, resp.Url))
	if got[chanStdout] != "hello" || !strings.Contains(got[chanError], "Success") {
		t.Errorf("channels = %q", got)
	}
	if len(sh.attaches) != 1 || sh.attaches[0].Stdin == nil {
		t.Errorf("attach requests = %+v", sh.attaches)
	}
}

func TestTokens(t *testing.T) {
	var tk tokens
	tk.add("http://h/exec/abc", "req")
	if req, known, ok := tk.take("abc"); req != "req" || !known || !ok {
		t.Fatalf("first take = %v %v %v", req, known, ok)
	}
	if _, known, ok := tk.take("abc"); !known || ok {
		t.Fatalf("second take = %v %v", known, ok)
	}
	if _, known, ok := tk.take("other"); known || !ok {
		t.Fatalf("unknown token = %v %v; want it left to the library", known, ok)
	}
}
