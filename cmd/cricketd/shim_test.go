package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindShim(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "my-shim")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "not-executable")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc     string
		override string
		want     string // path found; "" when an error is expected
	}{
		{desc: "override", override: exe, want: exe},
		{desc: "missing override", override: filepath.Join(dir, "missing")},
		{desc: "not executable", override: plain},
		{desc: "directory", override: dir},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := findShim(tc.override)
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("findShim(%q) = %q, %v; want %q", tc.override, got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, errNoShim) {
				t.Fatalf("findShim(%q) = %q, %v; want errNoShim", tc.override, got, err)
			}
			if !strings.Contains(err.Error(), "--shim-binary") {
				t.Errorf("error %q does not say how to fix it", err)
			}
		})
	}
}

// The default is cricket-shim next to the running executable (here the
// test binary, whose directory has none).
func TestFindShimDefaultIsNextToExecutable(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	want := filepath.Join(filepath.Dir(self), shimBinaryName)
	got, err := findShim("")
	if _, statErr := os.Stat(want); statErr == nil {
		if err != nil || got != want {
			t.Fatalf("findShim(\"\") = %q, %v; want %q", got, err, want)
		}
		return
	}
	if !errors.Is(err, errNoShim) || !strings.Contains(err.Error(), want) {
		t.Fatalf("findShim(\"\") = %q, %v; want errNoShim naming %s", got, err, want)
	}
}

func TestServeWithoutShimIsAConfigError(t *testing.T) {
	dir := t.TempDir()
	code := run([]string{"serve", "--root", dir, "--state", dir,
		"--shim-binary", filepath.Join(dir, "missing-shim")})
	if code != exitConfig {
		t.Fatalf("serve with a missing shim binary exited %d, want %d", code, exitConfig)
	}
}
