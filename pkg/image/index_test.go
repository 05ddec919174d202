package image

import (
	"slices"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/pkg/store"
)

// TestIndexNamesPerPlatform: a name moves to another image only in the
// name space it was pulled in; an image named in two name spaces keeps the
// name while one still gives it, and the records say so after a reopen.
func TestIndexNamesPerPlatform(t *testing.T) {
	dir := t.TempDir()
	open := func() *index {
		db, err := store.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		x, err := openIndex(db, func(id string, err error) { t.Errorf("record %s: %v", id, err) })
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	const tag, arm = "registry.example/app:1", "linux/arm64"
	single := Image{ID: "sha256:" + strings.Repeat("a", 64), RepoTags: []string{tag}}
	x := open()
	for _, ns := range []string{"", arm} {
		im := single
		if ns != "" {
			im.Platforms = []string{ns}
		}
		if _, err := x.put(im); err != nil {
			t.Fatal(err)
		}
	}
	newer := Image{ID: "sha256:" + strings.Repeat("b", 64), RepoTags: []string{tag}}
	if _, err := x.put(newer); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*index{x, open()} {
		for ns, want := range map[string]string{"": newer.ID, arm: single.ID} {
			if im, err := x.lookup(tag, ns); err != nil || im.ID != want {
				t.Errorf("lookup in %q = %s, %v; want %s", ns, im.ID, err, want)
			}
		}
		if im, _ := x.lookup(single.ID, ""); !slices.Equal(im.RepoTags, []string{tag}) || !slices.Equal(im.Platforms, []string{"", arm}) {
			t.Errorf("the image named in two name spaces = %+v", im)
		}
	}
}
