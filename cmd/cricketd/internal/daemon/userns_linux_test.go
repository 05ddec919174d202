package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSearchable(t *testing.T) {
	base := t.TempDir()
	// Every dir the test made, up to the system temp dir, lets others in
	// unless a case says otherwise.
	for p := base; strings.HasPrefix(p, os.TempDir()+"/"); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		desc    string
		mode    os.FileMode
		missing bool
		wantErr bool
	}{
		{desc: "0711 all the way", mode: 0o711},
		{desc: "0755", mode: 0o755},
		{desc: "0700 in the path", mode: 0o700, wantErr: true},
		{desc: "0770 in the path", mode: 0o770, wantErr: true},
		{desc: "not created yet below a searchable dir", mode: 0o711, missing: true},
	}
	for i, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			mid := filepath.Join(base, "d"+string(rune('a'+i)))
			if err := os.Mkdir(mid, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(mid, tc.mode); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(mid, "containers")
			if !tc.missing {
				if err := os.Mkdir(dir, 0o711); err != nil {
					t.Fatal(err)
				}
			}
			if err := searchable(dir); (err != nil) != tc.wantErr {
				t.Fatalf("searchable(%s) = %v, want error %v", dir, err, tc.wantErr)
			}
		})
	}
}

func TestStageable(t *testing.T) {
	pod := []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
	other := []specs.LinuxIDMapping{{HostID: 200000, Size: 65536}}
	spec := &specs.Spec{Linux: &specs.Linux{UIDMappings: pod, GIDMappings: pod}}
	tests := []struct {
		desc string
		m    specs.Mount
		want bool
	}{
		{desc: "private volume idmapped like the pod", m: specs.Mount{Type: "bind", Options: []string{"rbind", "rprivate", "rw"}, UIDMappings: pod, GIDMappings: pod}, want: true},
		{desc: "pod file", m: specs.Mount{Type: "bind", Options: []string{"rbind", "rprivate", "ro"}, UIDMappings: pod, GIDMappings: pod}, want: true},
		{desc: "not idmapped", m: specs.Mount{Type: "bind", Options: []string{"rbind"}}},
		{desc: "its own mappings", m: specs.Mount{Type: "bind", UIDMappings: other, GIDMappings: other}},
		{desc: "host to container propagation", m: specs.Mount{Type: "bind", Options: []string{"rbind", "rslave"}, UIDMappings: pod, GIDMappings: pod}},
		{desc: "bidirectional propagation", m: specs.Mount{Type: "bind", Options: []string{"rbind", "rshared"}, UIDMappings: pod, GIDMappings: pod}},
		{desc: "not a bind", m: specs.Mount{Type: "tmpfs", UIDMappings: pod, GIDMappings: pod}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := stageable(spec, &tc.m); got != tc.want {
				t.Fatalf("stageable = %v, want %v", got, tc.want)
			}
		})
	}
}
