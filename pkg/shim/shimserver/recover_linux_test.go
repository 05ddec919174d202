package shimserver

import (
	"context"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/runtime/runtimetest"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
)

func newFakeServer(t *testing.T, dir string) (*Server, *runtimetest.Executor) {
	t.Helper()
	fake := runtimetest.New("fake")
	srv, err := NewServer(Config{
		PodID: "pod1", StateDir: dir,
		NewExecutor: func(runtime.Handler) (runtime.Executor, error) { return fake, nil },
		Exits:       fake,
		Signal:      fake.Signal,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The start records are written in the background: none may land in
	// the state dir after the test removed it.
	t.Cleanup(srv.waitBackground)
	return srv, fake
}

func TestRecoverLoadsRecords(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	old, fake := newFakeServer(t, dir)
	for _, id := range []string{"exited", "running"} {
		if _, err := old.Create(ctx, shimapi.CreateRequest{ID: id, Bundle: "/b"}); err != nil {
			t.Fatal(err)
		}
		if _, err := old.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	fake.Exit("exited", 4)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := old.Wait(wctx, "exited"); err != nil {
		t.Fatal(err)
	}

	// A new shim on the same state dir: the fake pids are not processes,
	// so the running container is recorded as gone with an unknown code.
	srv, _ := newFakeServer(t, dir)
	if err := srv.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc, id string
		code     int
		adopted  bool
	}{
		{desc: "exited before", id: "exited", code: 4},
		{desc: "running when the shim died", id: "running", code: shimapi.ExitUnknown, adopted: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			st, err := srv.State(tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != shimapi.StatusExited || st.Exit == nil || st.Exit.ExitCode != tc.code || st.Adopted != tc.adopted {
				t.Fatalf("recovered %+v", st)
			}
		})
	}
}
