package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/test/testutil"
	"github.com/cricket-cri/cricket/test/testutil/harness"
)

func TestStreamAttachCrictl(t *testing.T) {
	d := startPodDaemon(t)
	for _, transport := range []string{"spdy", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			// Echoes its stdin; stdin_once closes it when the attach
			// session's stdin ends, and the container exits 0.
			cfg := testContainer("echo", `echo ready; while read line; do echo got:$line; echo err:$line >&2; done; echo bye`)
			cfg.Stdin, cfg.StdinOnce = true, true
			_, id := streamPod(t, d, "attach-"+transport, cfg)
			testutil.Eventually(t, "container ready", 10*time.Second, func() error {
				if log := containerLog(t, d, id); !strings.Contains(log, "ready") {
					return fmt.Errorf("log %q", log)
				}
				return nil
			})
			out, code := crictlStream(t, d, "one\ntwo\n", time.Minute, "attach", "-i", "--transport", transport, id)
			if code != 0 {
				t.Errorf("attach: exit %d, output %q", code, out)
			}
			for _, want := range []string{"got:one", "got:two", "err:one"} {
				if !strings.Contains(out, want) {
					t.Errorf("attach output %q lacks %q", out, want)
				}
			}
			testutil.Eventually(t, "exit after stdin_once", 10*time.Second, func() error {
				return stateIs(containerStatus(t, d.Runtime(), id).State, runtimeapi.ContainerState_CONTAINER_EXITED)
			})
			// The log kept every line while the session was attached.
			for _, want := range []string{"got:one", "got:two", "bye"} {
				if got := containerLog(t, d, id); !strings.Contains(got, want) {
					t.Errorf("log %q lacks %q", got, want)
				}
			}
		})
	}
}

// containerLog is the messages of a container's CRI log.
func containerLog(t *testing.T, d *harness.Daemon, id string) string {
	t.Helper()
	return logMessages(t, containerStatus(t, d.Runtime(), id).LogPath)
}
