package shimclient

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
	"github.com/cricket-cri/cricket/pkg/store"
)

// The client's calls are tested end to end against the real server in
// pkg/shim/shimserver, whose test binary doubles as the shim; these tests
// cover what works without a shim.

func TestReadRecords(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenVolatile(shimapi.StoreDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	put := func(bucket, id string, v any) {
		t.Helper()
		if err := st.Put(bucket, id, shimapi.RecordVersion, v); err != nil {
			t.Fatal(err)
		}
	}
	// A container the shim saw exit, one whose exit record was written but
	// not yet its state (the shim died between the two), and a running one.
	put(shimapi.BucketContainers, "done", &shimapi.ContainerState{ID: "done", Status: shimapi.StatusExited, Exit: &shimapi.ExitRecord{ID: "done", ExitCode: 1}})
	put(shimapi.BucketContainers, "dying", &shimapi.ContainerState{ID: "dying", Status: shimapi.StatusRunning, Pid: 42})
	put(shimapi.BucketExits, "dying", &shimapi.ExitRecord{ID: "dying", Pid: 42, ExitCode: 137, OOMKilled: true})
	put(shimapi.BucketContainers, "running", &shimapi.ContainerState{ID: "running", Status: shimapi.StatusRunning, Pid: 43})

	recs, err := ReadRecords(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]shimapi.ContainerState{}
	for _, r := range recs {
		got[r.ID] = r
	}
	cases := []struct {
		desc, id   string
		wantStatus shimapi.Status
		wantCode   int
		wantOOM    bool
	}{
		{desc: "exit in the state record", id: "done", wantStatus: shimapi.StatusExited, wantCode: 1},
		{desc: "exit record only", id: "dying", wantStatus: shimapi.StatusExited, wantCode: 137, wantOOM: true},
		{desc: "no exit", id: "running", wantStatus: shimapi.StatusRunning},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r, ok := got[tc.id]
			if !ok {
				t.Fatalf("no record of %s in %+v", tc.id, recs)
			}
			if r.Status != tc.wantStatus {
				t.Errorf("status %s, want %s", r.Status, tc.wantStatus)
			}
			if tc.wantStatus != shimapi.StatusExited {
				if r.Exit != nil {
					t.Errorf("exit %+v, want none", r.Exit)
				}
				return
			}
			if r.Exit == nil || r.Exit.ExitCode != tc.wantCode || r.Exit.OOMKilled != tc.wantOOM {
				t.Errorf("exit %+v, want code %d oom %v", r.Exit, tc.wantCode, tc.wantOOM)
			}
		})
	}
}

func TestReadRecordsSkipsBadRecords(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenVolatile(shimapi.StoreDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(shimapi.BucketContainers, "good", shimapi.RecordVersion, &shimapi.ContainerState{ID: "good"}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(st.Dir(), shimapi.BucketContainers, "bad.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadRecords(dir)
	if err == nil {
		t.Error("no error for a corrupt record")
	}
	if len(recs) != 1 || recs[0].ID != "good" {
		t.Errorf("records %+v, want the good one only", recs)
	}
}

func TestConnectWithoutShim(t *testing.T) {
	_, err := Connect(context.Background(), shimapi.SocketPath(t.TempDir()))
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("Connect to no shim = %v, want Unavailable", err)
	}
}

func TestStartValidates(t *testing.T) {
	cases := []struct {
		desc string
		opts Options
	}{
		{desc: "no pod id", opts: Options{StateDir: t.TempDir()}},
		{desc: "no state dir", opts: Options{PodID: "p"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := Start(context.Background(), tc.opts); !errdefs.IsInvalidArgument(err) {
				t.Fatalf("Start = %v, want InvalidArgument", err)
			}
		})
	}
}
