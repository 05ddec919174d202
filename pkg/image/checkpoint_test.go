package image

import (
	"context"
	"encoding/json"
	"testing"

	metadata "github.com/checkpoint-restore/checkpointctl/lib"
)

// TestPullCheckpointImage: an image carrying CRI-O's or checkpointctl's
// (containerd's) checkpoint annotation, on its manifest or on the index
// its reference resolves to, is recorded with the checkpointed
// container's name, also after a reopen; an image without is not.
func TestPullCheckpointImage(t *testing.T) {
	reg := newTestRegistry(t)
	layer := layerTar(t, map[string]string{"config.dump": "{}"})
	annotate := func(im testImage, a map[string]string) testImage {
		var m Manifest
		if err := json.Unmarshal(im.manifest, &m); err != nil {
			t.Fatal(err)
		}
		m.Annotations = a
		im.manifest = mustJSON(t, m)
		return im
	}
	crio := annotate(buildImage(t, "", layer), map[string]string{"io.kubernetes.cri-o.annotations.checkpoint.name": "counter"})
	reg.push("ckpt", "crio", crio)
	plain := buildImage(t, "", layerTar(t, map[string]string{"plain": "x"}))
	reg.push("ckpt", "plain", plain)
	// An index annotated by checkpointctl over an unannotated manifest.
	inner := buildImage(t, "", layerTar(t, map[string]string{"spec.dump": "{}"}))
	reg.push("ckpt", "inner", inner)
	idx := mustJSON(t, Index{SchemaVersion: 2, MediaType: MediaTypeOCIIndex,
		Manifests: []Descriptor{{MediaType: MediaTypeOCIManifest, Digest: inner.digest(), Size: int64(len(inner.manifest)),
			Platform: &Platform{OS: "linux", Architecture: "amd64"}}},
		Annotations: map[string]string{metadata.CheckpointAnnotationName: "side"}})
	reg.putManifest("ckpt", "index", MediaTypeOCIIndex, idx)

	root := t.TempDir()
	s := newTestService(t, root, reg, nil)
	for tag, want := range map[string]string{"crio": "counter", "index": "side", "plain": ""} {
		im, err := s.Pull(context.Background(), reg.host()+"/ckpt:"+tag, nil, "")
		if err != nil {
			t.Fatalf("pull %s: %v", tag, err)
		}
		if im.Checkpoint != want {
			t.Errorf("%s: Checkpoint = %q, want %q", tag, im.Checkpoint, want)
		}
	}
	s2 := newTestService(t, root, reg, nil)
	if im, err := s2.Status(reg.host()+"/ckpt:crio", ""); err != nil || im.Checkpoint != "counter" {
		t.Errorf("after reopen: %+v, %v", im, err)
	}
}
