package daemon

import (
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
)

func TestProcessState(t *testing.T) {
	at := time.Unix(100, 0)
	cases := []struct {
		desc        string
		st          shimapi.ContainerState
		wantRunning bool
		wantCode    int32
		wantOOM     bool
		wantExit    bool
	}{
		{desc: "created", st: shimapi.ContainerState{Status: shimapi.StatusCreated, Pid: 5}},
		{desc: "running", st: shimapi.ContainerState{Status: shimapi.StatusRunning, Pid: 5}, wantRunning: true},
		{desc: "exited", st: shimapi.ContainerState{Status: shimapi.StatusExited, Exit: &shimapi.ExitRecord{ExitCode: 3, ExitedAt: at}}, wantCode: 3, wantExit: true},
		{desc: "oom killed", st: shimapi.ContainerState{Status: shimapi.StatusExited, Exit: &shimapi.ExitRecord{ExitCode: 137, OOMKilled: true}}, wantCode: 137, wantOOM: true, wantExit: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			ps := processState(&tc.st)
			if ps.Running != tc.wantRunning || (ps.Exit != nil) != tc.wantExit {
				t.Fatalf("state = %+v", ps)
			}
			if ps.Exit != nil && (ps.Exit.Code != tc.wantCode || ps.Exit.OOMKilled != tc.wantOOM || !ps.Exit.At.Equal(tc.st.Exit.ExitedAt)) {
				t.Errorf("exit = %+v", ps.Exit)
			}
		})
	}
}
