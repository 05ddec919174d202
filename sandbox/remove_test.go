package sandbox_test

import (
	"context"
	"testing"
)

func TestRemoveReadyPodStopsIt(t *testing.T) {
	e := newEnv(t)
	sb := e.run(t, "web")
	if err := e.svc.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
	if held := e.rec.Held(); len(held) != 0 {
		t.Errorf("remove leaked %q", held)
	}
}
