package daemon

import (
	"context"
	"errors"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/cricket-cri/cricket/pkg/config"
	"github.com/cricket-cri/cricket/pkg/metrics"
)

func TestReloader(t *testing.T) {
	ctx := context.Background()
	var next *config.Config
	var loadErr, applyErr error
	r := NewReloader(config.Default(), func() (*config.Config, error) { return next, loadErr })
	var applied []*config.Config
	r.Register(Applier{Name: "fake", Apply: func(_ context.Context, c *config.Config) error {
		applied = append(applied, c)
		return applyErr
	}})
	gen := func() float64 {
		var m dto.Metric
		if err := metrics.ConfigGeneration.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetGauge().GetValue()
	}
	if gen() != 1 {
		t.Fatalf("generation at start = %v", gen())
	}

	next = config.Default()
	next.Image.MaxConcurrentDownloads = 9
	next.Root = "/elsewhere"
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	cur := r.Current()
	if cur.Image.MaxConcurrentDownloads != 9 || cur.Root != config.Default().Root {
		t.Errorf("reloadable key not applied or restart key changed: %+v", cur)
	}
	if len(applied) != 1 || applied[0].Root != config.Default().Root {
		t.Errorf("the applier saw a restart key change")
	}
	if gen() != 2 {
		t.Errorf("generation = %v, want 2", gen())
	}

	loadErr = config.Errors{{File: "/x.toml", Path: "bogus", Msg: "unknown key"}}
	if err := r.Reload(ctx); err == nil || len(applied) != 1 || gen() != 2 || r.Current() != cur {
		t.Errorf("a bad file was applied: %v, %d applies, generation %v", err, len(applied), gen())
	}

	loadErr, applyErr = nil, errors.New("port in use")
	next = config.Default()
	if err := r.Reload(ctx); err == nil || gen() != 2 || r.Current() != cur {
		t.Errorf("a failed applier made the configuration current: %v, generation %v", err, gen())
	}
}
