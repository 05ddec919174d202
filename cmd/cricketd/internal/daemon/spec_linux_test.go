package daemon

import (
	"context"
	"errors"
	"fmt"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/runtime"
)

func TestSetRootfsPropagation(t *testing.T) {
	cases := []struct {
		desc string
		opts [][]string
		want string
	}{
		{desc: "private mounts leave it alone", opts: [][]string{{"rbind", "rprivate"}}, want: ""},
		{desc: "host to container", opts: [][]string{{"rbind", "rslave"}}, want: "rslave"},
		{desc: "bidirectional wins", opts: [][]string{{"rbind", "rslave"}, {"rbind", "rshared"}}, want: "rshared"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			s := &specs.Spec{Linux: &specs.Linux{}}
			for _, o := range tc.opts {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/v", Type: "bind", Options: o})
			}
			setRootfsPropagation(s)
			if s.Linux.RootfsPropagation != tc.want {
				t.Errorf("got %q, want %q", s.Linux.RootfsPropagation, tc.want)
			}
		})
	}
}

type fakeHandlers map[string]runtime.Handler

func (f fakeHandlers) Lookup(name string) (runtime.Handler, error) {
	h, ok := f[name]
	if !ok {
		return runtime.Handler{}, fmt.Errorf("runtime handler %q: %w", name, errdefs.ErrNotFound)
	}
	return h, nil
}

func TestSpecBuilderFeatures(t *testing.T) {
	builtin := runtime.Handler{Name: "cricket", Kind: runtime.KindBuiltin}
	// The builtin handler's answer is the kernel's (mount_setattr, 5.12).
	kernelRRO := runtime.SupportsRecursiveReadOnly(context.Background(), builtin)
	cases := []struct {
		desc     string
		handlers fakeHandlers
		handler  string
		wantRRO  bool
		wantErr  error
	}{
		{desc: "no handler lookup supports nothing optional"},
		{desc: "builtin handler", handlers: fakeHandlers{"": builtin}, wantRRO: kernelRRO},
		{desc: "unknown handler", handlers: fakeHandlers{}, handler: "nope", wantErr: errdefs.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			b := &specBuilder{}
			if tc.handlers != nil {
				b.handlers = tc.handlers
			}
			f, err := b.features(context.Background(), tc.handler)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("features: %v, want %v", err, tc.wantErr)
			}
			if f.RecursiveReadOnlyMounts != tc.wantRRO {
				t.Errorf("RecursiveReadOnlyMounts = %v, want %v", f.RecursiveReadOnlyMounts, tc.wantRRO)
			}
		})
	}
}
