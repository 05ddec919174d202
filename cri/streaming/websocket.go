package streaming

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	utilexec "k8s.io/utils/exec"
)

// k8s.io/cri-streaming serves exec and attach over WebSocket only up to the
// v4 channel protocol: the apiserver translates kubectl's v5 WebSocket to
// SPDY before it reaches a node. Clients that talk to the runtime's URLs
// directly with client-go's WebSocket executor (crictl --transport
// websocket) ask for v5.channel.k8s.io alone, so Server serves that
// protocol itself: v4's channels plus a signal that closes one stream
// (how the client says its stdin ended). Everything else goes to the
// library.

// v5Protocol is the WebSocket subprotocol served here.
const v5Protocol = "v5.channel.k8s.io"

// Channels of the remote command protocol.
const (
	chanStdin = iota
	chanStdout
	chanStderr
	chanError
	chanResize
)

// tokenTTL is how long a URL stays valid; the library's own cache keeps its
// tokens one minute.
const tokenTTL = time.Minute

// tokens remembers the exec and attach requests behind the URLs handed
// out, so that a v5 WebSocket request can be served here, and makes every
// URL good for one session whichever way it is served.
type tokens struct {
	mu      sync.Mutex
	entries map[string]*tokenEntry
}

type tokenEntry struct {
	req     any // *runtimeapi.ExecRequest or *runtimeapi.AttachRequest
	expires time.Time
	used    bool
}

// add records the request behind url.
func (t *tokens) add(url string, req any) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.entries == nil {
		t.entries = map[string]*tokenEntry{}
	}
	for k, e := range t.entries {
		if now.After(e.expires) {
			delete(t.entries, k)
		}
	}
	t.entries[path.Base(url)] = &tokenEntry{req: req, expires: now.Add(tokenTTL)}
}

// take marks token used and returns its request; ok is false for an
// unknown, expired or used token. A token not recorded here is ok with a
// nil request (the library knows it or not).
func (t *tokens) take(token string) (req any, known, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, found := t.entries[token]
	if !found {
		return nil, false, true
	}
	if e.used || time.Now().After(e.expires) {
		return nil, true, false
	}
	e.used = true
	return e.req, true, true
}

// ServeHTTP serves v5 WebSocket exec and attach sessions and WebSocket
// port-forward tunnels, and hands every other request to the library.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind, token := path.Split(strings.TrimPrefix(r.URL.Path, "/"))
	if kind == "portforward/" && isTunnelRequest(r) {
		s.serveTunnel(w, r)
		return
	}
	if kind != "exec/" && kind != "attach/" {
		s.lib.ServeHTTP(w, r)
		return
	}
	req, known, ok := s.tokens.take(token)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if known && wsstream.IsWebSocketRequestWithStreamCloseProtocol(r) {
		s.serveV5(w, r, req)
		return
	}
	s.lib.ServeHTTP(w, r)
}

// sessionOpts are the streams of one session.
type sessionOpts struct {
	exec                       bool
	containerID                string
	cmd                        []string
	stdin, stdout, stderr, tty bool
}

func optsOf(req any) (sessionOpts, bool) {
	switch r := req.(type) {
	case *runtimeapi.ExecRequest:
		return sessionOpts{exec: true, containerID: r.ContainerId, cmd: r.Cmd, stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, tty: r.Tty}, true
	case *runtimeapi.AttachRequest:
		return sessionOpts{containerID: r.ContainerId, stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, tty: r.Tty}, true
	}
	return sessionOpts{}, false
}

func (s *Server) serveV5(w http.ResponseWriter, r *http.Request, req any) {
	o, ok := optsOf(req)
	if !ok {
		http.NotFound(w, r)
		return
	}
	channel := func(on bool, t wsstream.ChannelType) wsstream.ChannelType {
		if on {
			return t
		}
		return wsstream.IgnoreChannel
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{v5Protocol: {Binary: true, Channels: []wsstream.ChannelType{
		chanStdin:  channel(o.stdin, wsstream.ReadChannel),
		chanStdout: channel(o.stdout, wsstream.WriteChannel),
		chanStderr: channel(o.stderr, wsstream.WriteChannel),
		chanError:  wsstream.WriteChannel,
		chanResize: wsstream.ReadChannel,
	}}})
	conn.SetIdleTimeout(s.idleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		klog.FromContext(r.Context()).Error(err, "upgrade to a WebSocket stream", "containerID", o.containerID)
		return
	}
	defer conn.Close()
	// An empty message on the first writable channel tells the client the
	// session is up.
	switch {
	case o.stdout:
		_, _ = streams[chanStdout].Write(nil)
	case o.stderr:
		_, _ = streams[chanStderr].Write(nil)
	default:
		_, _ = streams[chanError].Write(nil)
	}
	var in io.Reader
	var out, errOut io.WriteCloser
	if o.stdin {
		in = streams[chanStdin]
	}
	if o.stdout {
		out = streams[chanStdout]
	}
	if o.stderr {
		errOut = streams[chanStderr]
	}
	var resize chan remotecommand.TerminalSize
	if o.tty {
		resize = make(chan remotecommand.TerminalSize)
		go decodeResizes(r, streams[chanResize], resize)
	}
	if o.exec {
		err = s.rt.Exec(r.Context(), o.containerID, o.cmd, in, out, errOut, o.tty, resize)
	} else {
		err = s.rt.Attach(r.Context(), o.containerID, in, out, errOut, o.tty, resize)
	}
	_ = writeStatus(streams[chanError], err)
}

// decodeResizes passes the client's terminal sizes on until its stream or
// the request ends.
func decodeResizes(r *http.Request, stream io.Reader, ch chan<- remotecommand.TerminalSize) {
	defer close(ch)
	dec := json.NewDecoder(stream)
	for {
		var size remotecommand.TerminalSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case ch <- size:
		case <-r.Context().Done():
			return
		}
	}
}

// wsStatus is the v4/v5 error channel's message, a metav1.Status.
type wsStatus struct {
	Status  string         `json:"status,omitempty"`
	Message string         `json:"message,omitempty"`
	Reason  string         `json:"reason,omitempty"`
	Details *statusDetails `json:"details,omitempty"`
	Code    int32          `json:"code,omitempty"`
}

type statusDetails struct {
	Causes []statusCause `json:"causes,omitempty"`
}

type statusCause struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// writeStatus reports how the session ended: success, the command's exit
// code, or an internal error.
func writeStatus(w io.Writer, err error) error {
	st := wsStatus{Status: "Success"}
	var exitErr utilexec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.Exited():
		st = wsStatus{
			Status:  "Failure",
			Reason:  "NonZeroExitCode",
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", err),
			Details: &statusDetails{Causes: []statusCause{{Reason: "ExitCode", Message: strconv.Itoa(exitErr.ExitStatus())}}},
		}
	default:
		st = wsStatus{
			Status:  "Failure",
			Reason:  "InternalError",
			Message: fmt.Sprintf("Internal error occurred: %v", err),
			Code:    http.StatusInternalServerError,
		}
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}
