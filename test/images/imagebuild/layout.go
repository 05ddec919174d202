package imagebuild

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Annotations naming an image in an OCI layout: the full upstream reference
// (as containerd's import expects) and the tag (the OCI convention).
const (
	AnnotationImageName = "io.containerd.image.name"
	AnnotationRefName   = "org.opencontainers.image.ref.name"
)

// WriteLayout builds specs and writes them into an OCI image layout at dir,
// one index.json entry per spec annotated with its upstream name and tag.
func (b *Builder) WriteLayout(dir string, specs []Spec) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("create OCI layout %s: %w", dir, err)
	}
	for _, s := range specs {
		art, err := b.Build(s)
		if err != nil {
			return err
		}
		opt := layout.WithAnnotations(map[string]string{AnnotationImageName: s.Ref, AnnotationRefName: s.Tag()})
		if art.Index != nil {
			err = p.AppendIndex(art.Index, opt)
		} else {
			err = p.AppendImage(art.Image, opt)
		}
		if err != nil {
			return fmt.Errorf("write %s to OCI layout %s: %w", s.Ref, dir, err)
		}
	}
	return nil
}
