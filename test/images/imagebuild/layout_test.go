package imagebuild

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func TestWriteLayout(t *testing.T) {
	dir := t.TempDir()
	specs := []Spec{mustSpec(t, e2e+"busybox:1.29-2"), mustSpec(t, critools+"test-image-tags:1")}
	if err := testBuilder(t).WriteLayout(dir, specs); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != len(specs) {
		t.Fatalf("index.json has %d entries, want %d", len(im.Manifests), len(specs))
	}
	for i, d := range im.Manifests {
		want, _ := buildSpec(t, specs[i]).Digest()
		if d.Digest != want || d.Annotations[AnnotationImageName] != specs[i].Ref || d.Annotations[AnnotationRefName] != specs[i].Tag() {
			t.Errorf("entry %d: %s %v, want %s named %s", i, d.Digest, d.Annotations, want, specs[i].Ref)
		}
	}
	if _, err := idx.Image(im.Manifests[0].Digest); err != nil {
		t.Errorf("read image back from layout: %v", err)
	}
}
