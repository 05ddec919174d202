package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFilterFiles(t *testing.T) {
	bounding, err := boundingSet()
	if err != nil {
		t.Fatal(err)
	}
	if !bounding["CAP_CHOWN"] {
		t.Fatalf("bounding set %v lacks CAP_CHOWN", bounding)
	}
	caps := map[string][]string{"bounding": {"CAP_CHOWN", "CAP_NOT_A_CAP"}, "effective": {"CAP_NOT_A_CAP"}}
	dir := t.TempDir()
	spec := map[string]any{"ociVersion": "1.0.2", "process": map[string]any{"args": []string{"sh"}, "capabilities": caps},
		"hostname": "kept"}
	write := func(name string, v any) string {
		b, _ := json.Marshal(v)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("config.json", spec)
	proc := write("process.json", map[string]any{"args": []string{"sh"}, "capabilities": caps})
	for _, tc := range []struct {
		desc string
		args []string
		file string
		full bool
	}{
		{desc: "create", args: []string{"--root", "/run/x", "create", "--bundle", dir, "id"}, file: filepath.Join(dir, "config.json"), full: true},
		{desc: "exec", args: []string{"exec", "--process=" + proc, "--detach", "id"}, file: proc},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if err := filterFiles(tc.args); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(tc.file)
			var doc struct {
				Hostname string
				Process  struct{ Capabilities map[string][]string }
				Caps     map[string][]string `json:"capabilities"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			got := doc.Caps
			if tc.full {
				got = doc.Process.Capabilities
				if doc.Hostname != "kept" {
					t.Errorf("other fields lost: %s", b)
				}
			}
			if !slices.Equal(got["bounding"], []string{"CAP_CHOWN"}) || len(got["effective"]) != 0 {
				t.Errorf("capabilities = %v, want only CAP_CHOWN kept", got)
			}
		})
	}
}
