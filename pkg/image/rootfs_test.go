package image

import (
	"context"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestPrepareRootfsHoldsLayers(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push("app", "latest", buildImage(t, "", layerTar(t, map[string]string{"a": "1"}), layerTar(t, map[string]string{"b": "2"})))
	s := newTestService(t, t.TempDir(), reg, nil)
	ctx := context.Background()
	im, err := s.Pull(ctx, reg.host()+"/app", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc, key, ref string
		wantErr        error
	}{
		{desc: "by name", key: "c1", ref: reg.host() + "/app"},
		{desc: "same key again", key: "c1", ref: im.ID, wantErr: errdefs.ErrAlreadyExists},
		{desc: "unknown image", key: "c2", ref: "nope", wantErr: errdefs.ErrNotFound},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			m, got, err := s.PrepareRootfs(tc.key, tc.ref)
			if tc.wantErr != nil {
				if !errorsIsAll(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || got.ID != im.ID || m.Type != "overlay" {
				t.Fatalf("PrepareRootfs = %+v, %s, %v", m, got.ID, err)
			}
		})
	}
	if err := s.Remove(ctx, im.ID, ""); err != nil {
		t.Fatal(err)
	}
	if len(s.snaps.Layers()) != 2 {
		t.Fatalf("layers freed under a container: %d left", len(s.snaps.Layers()))
	}
	for range 2 {
		if err := s.RemoveRootfs(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.snaps.Layers()) != 0 {
		t.Errorf("%d layers left after the last user went", len(s.snaps.Layers()))
	}
}
