package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func chainOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func openStore(t *testing.T, root string) *Store {
	t.Helper()
	s, err := Open(root, rootless)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreApplyPrepareRemove(t *testing.T) {
	root := t.TempDir()
	s := openStore(t, root)
	base, top := chainOf("base"), chainOf("top")
	ctx := context.Background()
	if err := s.Apply(ctx, base, "", bytes.NewReader(tarOf(t, file("a", "1"))), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, top, base, bytes.NewReader(tarOf(t, file("b", "2"))), nil); err != nil {
		t.Fatal(err)
	}
	m, err := s.Prepare("ctr1", top)
	if err != nil {
		t.Fatal(err)
	}
	topDir, _ := s.LayerDir(top)
	baseDir, _ := s.LayerDir(base)
	if m.Type != "overlay" || !contains(m.Options, "lowerdir="+topDir+":"+baseDir) {
		t.Errorf("mount = %+v", m)
	}
	for _, tc := range []struct {
		desc    string
		chain   string
		wantErr error
	}{
		{desc: "top in use", chain: top, wantErr: errdefs.ErrFailedPrecondition},
		{desc: "base in use through its child", chain: base, wantErr: errdefs.ErrFailedPrecondition},
		{desc: "missing layer", chain: chainOf("nope")},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if err := s.RemoveLayer(tc.chain); !errors.Is(err, tc.wantErr) {
				t.Errorf("RemoveLayer = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if _, err := s.Prepare("ctr1", top); !errdefs.IsAlreadyExists(err) {
		t.Errorf("second Prepare = %v", err)
	}
	// A restart finds the same state.
	s = openStore(t, root)
	if !s.InUse(base) || !s.Has(top) {
		t.Fatal("state lost across reopen")
	}
	if err := s.Remove("ctr1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("ctr1"); err != nil {
		t.Fatalf("second Remove = %v", err)
	}
	for _, c := range []string{top, base} {
		if err := s.RemoveLayer(c); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(root, "snapshots"))
	if len(entries) != 0 {
		t.Errorf("%d snapshot dirs left", len(entries))
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func TestStoreApplyFailureLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		layer  []byte
		verify func() error
	}{
		{desc: "hostile layer", layer: tarOf(t, file("../x", "1"))},
		{desc: "verify fails", layer: tarOf(t, file("x", "1")), verify: func() error {
			return errors.New("digest mismatch")
		}},
		{desc: "truncated tar", layer: tarOf(t, file("x", strings.Repeat("a", 4096)))[:700]},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			root := t.TempDir()
			s := openStore(t, root)
			if err := s.Apply(context.Background(), chainOf("x"), "", bytes.NewReader(tc.layer), tc.verify); err == nil {
				t.Fatal("Apply succeeded")
			}
			if s.Has(chainOf("x")) {
				t.Error("layer committed")
			}
			entries, _ := os.ReadDir(filepath.Join(root, "snapshots"))
			if len(entries) != 0 {
				t.Errorf("%d snapshot dirs left", len(entries))
			}
		})
	}
}

func TestStoreRemovesStrays(t *testing.T) {
	root := t.TempDir()
	openStore(t, root)
	stray := filepath.Join(root, "snapshots", "99", "fs")
	if err := os.MkdirAll(stray, 0o755); err != nil {
		t.Fatal(err)
	}
	openStore(t, root)
	if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stray unpack kept: %v", err)
	}
}

func TestPrepareWithoutParentIsBind(t *testing.T) {
	s := openStore(t, t.TempDir())
	m, err := s.Prepare("c", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "bind" {
		t.Errorf("mount = %+v", m)
	}
	if _, err := s.Prepare("d", chainOf("missing")); !errdefs.IsNotFound(err) {
		t.Errorf("Prepare on missing parent = %v", err)
	}
}

// TestWithMountLabel: an overlay rootfs is mounted with the container's
// SELinux mount label (context=), so that its files are the container's
// whatever the layers have; without a label it is unchanged. (Found in the
// enforcing test/vm node: without it every container was refused its
// entrypoint.)
func TestWithMountLabel(t *testing.T) {
	const l = "system_u:object_r:container_file_t:s0:c1,c2"
	ov := Mount{Type: "overlay", Source: "overlay", Options: []string{"index=off", "lowerdir=/a:/b", "upperdir=/u", "workdir=/w"}}
	got := ov.WithMountLabel(l)
	want := append(append([]string(nil), ov.Options...), `context="`+l+`"`)
	if strings.Join(got.Options, ",") != strings.Join(want, ",") {
		t.Fatalf("options %q, want %q", got.Options, want)
	}
	if len(ov.Options) != 4 {
		t.Fatalf("the original mount changed: %q", ov.Options)
	}
	if again := got.WithMountLabel(l); len(again.Options) != len(want) {
		t.Fatalf("labelled twice: %q", again.Options)
	}
	// Relative options (many layers) keep it as it is.
	rel := relativeOptions(got.Options, "/")
	if rel[len(rel)-1] != `context="`+l+`"` {
		t.Fatalf("relative options %q", rel)
	}
	if u := ov.WithMountLabel(""); strings.Join(u.Options, ",") != strings.Join(ov.Options, ",") {
		t.Fatalf("no label changed the options: %q", u.Options)
	}
	b := Mount{Type: "bind", Source: "/u", Options: []string{"rbind", "rw"}}
	if u := b.WithMountLabel(l); strings.Join(u.Options, ",") != "rbind,rw" {
		t.Fatalf("bind options %q", u.Options)
	}
}
