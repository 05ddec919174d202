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

func TestFeaturesHaveIDMap(t *testing.T) {
	tests := []struct {
		desc string
		doc  string
		want bool
	}{
		{desc: "runc 1.1: no idmap option", doc: `{"mountOptions":["rbind","rro"]}`},
		{desc: "idmap mount option", doc: `{"mountOptions":["rbind","idmap","ridmap"]}`, want: true},
		{desc: "mountExtensions enabled", doc: `{"linux":{"mountExtensions":{"idmap":{"enabled":true}}}}`, want: true},
		{desc: "mountExtensions disabled wins over option", doc: `{"mountOptions":["idmap"],"linux":{"mountExtensions":{"idmap":{"enabled":false}}}}`},
		{desc: "not json", doc: `unknown command features`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := featuresHaveIDMap([]byte(tc.doc)); got != tc.want {
				t.Fatalf("featuresHaveIDMap(%s) = %v, want %v", tc.doc, got, tc.want)
			}
		})
	}
}

func TestCrunHasIDMap(t *testing.T) {
	tests := []struct {
		desc, version string
		want          bool
	}{
		{desc: "crun 1.8.1", version: "crun version 1.8.1\ncommit: f8a096be\nrundir: /run/crun\n", want: true},
		{desc: "crun 1.10", version: "crun version 1.10\n", want: true},
		{desc: "crun 1.7.2", version: "crun version 1.7.2\n"},
		{desc: "runc", version: "runc version 1.1.5+ds1\n"},
		{desc: "garbage", version: "crun version x\n"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := crunHasIDMap(tc.version); got != tc.want {
				t.Fatalf("crunHasIDMap(%q) = %v, want %v", tc.version, got, tc.want)
			}
		})
	}
}
