package runtime

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestSupportsRecursiveReadOnly(t *testing.T) {
	if !kernelHasMountSetattr() {
		t.Skip("kernel has no mount_setattr(2)")
	}
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		desc string
		h    Handler
		want bool
	}{
		{desc: "builtin", h: Handler{Name: "b", Kind: KindBuiltin}, want: true},
		{desc: "binary listing rro", h: Handler{Name: "r", Kind: KindRuncCLI, Path: script("rro", `echo '{"mountOptions":["ro","rro"]}'`)}, want: true},
		{desc: "binary without rro", h: Handler{Name: "n", Kind: KindRuncCLI, Path: script("norro", `echo '{"mountOptions":["ro"]}'`)}, want: false},
		{desc: "binary without features command", h: Handler{Name: "u", Kind: KindRuncCLI, Path: script("old", `echo "unknown command features" >&2; exit 1`)}, want: false},
		{desc: "missing binary", h: Handler{Name: "m", Kind: KindRuncCLI, Path: filepath.Join(dir, "missing")}, want: false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := SupportsRecursiveReadOnly(context.Background(), tc.h); got != tc.want {
				t.Errorf("SupportsRecursiveReadOnly(%+v) = %v, want %v", tc.h, got, tc.want)
			}
		})
	}
}
