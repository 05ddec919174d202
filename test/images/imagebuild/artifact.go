package imagebuild

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ArtifactRef is the catalog's OCI artifact.
const ArtifactRef = "ghcr.io/cricket-cri/test-artifact:v1"

// ArtifactConfigType is its config media type: not an image config, which
// is what makes a manifest an artifact to a runtime.
const ArtifactConfigType = "application/vnd.cricket.test.artifact.config.v1+json"

// ArtifactFiles are the artifact's layers by title annotation.
var ArtifactFiles = []struct{ Title, Content string }{
	{"README.md", "cricket test artifact\n"},
	{"data/notes.txt", "not a plain file name: named by digest\n"},
}

// testArtifact builds the OCI artifact: an OCI manifest whose config is
// not an image config and whose layers are text files.
func testArtifact(_ *Builder, _ Format) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, ArtifactConfigType)
	for _, f := range ArtifactFiles {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:       static.NewLayer([]byte(f.Content), "text/plain"),
			MediaType:   "text/plain",
			Annotations: map[string]string{"org.opencontainers.image.title": f.Title},
		})
		if err != nil {
			return nil, err
		}
	}
	return img, nil
}
