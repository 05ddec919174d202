package network

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/store"
)

const bridgeConflist = `{"cniVersion":"1.0.0","name":"pods","plugins":[{"type":"bridge"},{"type":"portmap"}]}`

func TestStatus(t *testing.T) {
	cases := []struct {
		desc    string
		files   map[string]string // conf dir files
		plugins []string          // bin dir files
		wantErr string
	}{
		{desc: "missing conf dir", files: nil, wantErr: "no CNI network configuration"},
		{desc: "empty conf dir", files: map[string]string{"README": "x"}, wantErr: "no CNI network configuration"},
		{desc: "unparsable config", files: map[string]string{"10-bad.conflist": "{"}, wantErr: "10-bad.conflist"},
		{desc: "plugin missing", files: map[string]string{"10-pods.conflist": bridgeConflist}, plugins: []string{"bridge"}, wantErr: `plugin "portmap" not found`},
		{desc: "ready", files: map[string]string{"10-pods.conflist": bridgeConflist}, plugins: []string{"bridge", "portmap"}},
		{
			desc:    "first file in name order wins",
			files:   map[string]string{"20-other.conflist": `{"cniVersion":"1.0.0","name":"o","plugins":[{"type":"nope"}]}`, "10-pods.conflist": bridgeConflist},
			plugins: []string{"bridge", "portmap"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			confDir, binDir := filepath.Join(dir, "net.d"), filepath.Join(dir, "bin")
			if tc.files != nil {
				writeFiles(t, confDir, tc.files, 0o644)
			}
			bins := map[string]string{}
			for _, p := range tc.plugins {
				bins[p] = "#!/bin/sh\n"
			}
			writeFiles(t, binDir, bins, 0o755)
			m, err := New(Options{ConfDir: confDir, BinDirs: []string{binDir}})
			if err != nil {
				t.Fatal(err)
			}
			err = m.Status()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Status = %v, want ready", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Status = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestStatusPicksUpNewConfig(t *testing.T) {
	dir := t.TempDir()
	binDir := filepath.Join(dir, "bin")
	writeFiles(t, binDir, map[string]string{"bridge": "", "portmap": ""}, 0o755)
	m, err := New(Options{ConfDir: filepath.Join(dir, "net.d"), BinDirs: []string{binDir}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Status(); !errors.Is(err, ErrNoConfig) {
		t.Fatalf("before: %v", err)
	}
	writeFiles(t, filepath.Join(dir, "net.d"), map[string]string{"10.conflist": bridgeConflist}, 0o644)
	if err := m.Status(); err != nil {
		t.Fatalf("after a config appeared: %v", err)
	}
}

func TestSetDirs(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, filepath.Join(dir, "bin1"), map[string]string{"bridge": ""}, 0o755)
	writeFiles(t, filepath.Join(dir, "bin2"), map[string]string{"bridge": "", "portmap": ""}, 0o755)
	writeFiles(t, filepath.Join(dir, "net.d"), map[string]string{"10.conflist": bridgeConflist}, 0o644)
	m, err := New(Options{ConfDir: filepath.Join(dir, "empty"), BinDirs: []string{filepath.Join(dir, "bin1")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Status(); !errors.Is(err, ErrNoConfig) {
		t.Fatalf("before: %v", err)
	}
	m.SetDirs(filepath.Join(dir, "net.d"), []string{filepath.Join(dir, "bin1")})
	if err := m.Status(); err == nil || !strings.Contains(err.Error(), `plugin "portmap" not found`) {
		t.Fatalf("new conf dir, old bin dir: %v", err)
	}
	m.SetDirs(filepath.Join(dir, "net.d"), []string{filepath.Join(dir, "bin2")})
	if err := m.Status(); err != nil {
		t.Fatalf("new bin dir: %v", err)
	}
}

func TestPodCIDRPersists(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, _ := New(Options{ConfDir: "/nonexistent", BinDirs: []string{"/nonexistent"}, Store: st})
	if err := m.SetPodCIDR("not-a-cidr"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("invalid CIDR: err = %v", err)
	}
	if err := m.SetPodCIDR("10.88.0.0/16"); err != nil {
		t.Fatal(err)
	}
	m2, err := New(Options{ConfDir: "/nonexistent", BinDirs: []string{"/nonexistent"}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if got := m2.PodCIDR(); got != "10.88.0.0/16" {
		t.Errorf("after restart pod CIDR = %q", got)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}
