package securefs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSearchableByOthers(t *testing.T) {
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
			if err := SearchableByOthers(dir); (err != nil) != tc.wantErr {
				t.Fatalf("SearchableByOthers(%s) = %v, want error %v", dir, err, tc.wantErr)
			}
		})
	}
}
