package runtime

import (
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// TestRestorableSpec: what no executor can restore is refused before any
// runtime runs, with the class the CRI answer needs.
func TestRestorableSpec(t *testing.T) {
	withProcess := &specs.Spec{Process: &specs.Process{Args: []string{"sh"}}}
	withTerminal := &specs.Spec{Process: &specs.Process{Args: []string{"sh"}, Terminal: true}}
	for _, tc := range []struct {
		desc    string
		spec    *specs.Spec // nil: no config.json in the bundle
		images  string
		wantErr error
	}{
		{desc: "restorable", spec: withProcess, images: "/ckpt/checkpoint"},
		{desc: "no image path", spec: withProcess, wantErr: errdefs.ErrInvalidArgument},
		{desc: "terminal", spec: withTerminal, images: "/ckpt/checkpoint", wantErr: errdefs.ErrInvalidArgument},
		{desc: "no process", spec: &specs.Spec{}, images: "/ckpt/checkpoint", wantErr: errdefs.ErrInvalidArgument},
		{desc: "no bundle spec", images: "/ckpt/checkpoint", wantErr: errdefs.ErrNotFound},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			bundle := t.TempDir()
			if tc.spec != nil {
				if err := WriteSpec(bundle, tc.spec); err != nil {
					t.Fatal(err)
				}
			}
			spec, err := restorableSpec("c1", bundle, RestoreOptions{ImagePath: tc.images})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || spec.Process == nil {
				t.Fatalf("spec %+v, err %v", spec, err)
			}
		})
	}
}
