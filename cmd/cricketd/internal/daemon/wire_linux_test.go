package daemon

import (
	"context"
	"errors"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
)

func TestHandlerLookup(t *testing.T) {
	reg, err := runtime.NewRegistry(map[string]string{"runc": "/usr/sbin/runc"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc     string
		def      string
		name     string
		wantKind string
		wantErr  error
	}{
		{desc: "empty is the built-in default", name: "", wantKind: runtime.KindBuiltin},
		{desc: "empty is the configured default", def: "runc", name: "", wantKind: runtime.KindRuncCLI},
		{desc: "by name", name: "runc", wantKind: runtime.KindRuncCLI},
		{desc: "unknown", name: "kata", wantErr: errdefs.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			h, err := handlerLookup{reg: reg, def: tc.def}.Lookup(tc.name)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && h.Kind != tc.wantKind {
				t.Errorf("kind = %q, want %q", h.Kind, tc.wantKind)
			}
		})
	}
}

func TestNewNeedsItsDependencies(t *testing.T) {
	if _, err := New(context.Background(), Options{}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("err = %v, want InvalidArgument", err)
	}
}
