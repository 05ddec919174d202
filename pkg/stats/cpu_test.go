package stats

import (
	"context"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/pkg/cgroups"
)

// fixedCgroups has every cgroup, all idle.
type fixedCgroups struct{}

func (fixedCgroups) Exists(string) bool                   { return true }
func (fixedCgroups) Stats(string) (*cgroups.Stats, error) { return &cgroups.Stats{}, nil }
func (fixedCgroups) Procs(string) ([]int, error)          { return nil, nil }

func TestForgetsRemovedContainers(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cg := fixedCgroups{}
	c, _ := New(Options{Cgroups: cg, Now: func() time.Time { return now }})
	for _, id := range []string{"old", "new"} {
		if _, err := c.Container(context.Background(), ContainerRef{ID: id, CgroupPath: "/c"}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(forgetAfter + time.Minute)
	}
	if _, err := c.Container(context.Background(), ContainerRef{ID: "new", CgroupPath: "/c"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.known["container/old"]; ok || len(c.known) != 1 {
		t.Fatalf("remembered %v", c.known)
	}
}
