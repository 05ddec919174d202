// Package imagetest has a hand-written fake of the image service for
// testing its consumers without registries or root.
package imagetest

import (
	"context"
	"fmt"
	"sync"

	"github.com/cricket-cri/cricket/pkg/errdefs"
	"github.com/cricket-cri/cricket/pkg/image"
)

// Fake keeps images in memory, keyed by every name and ID they answer to.
// Pull "succeeds" for references listed in Registry. Set Err to make every
// call fail with it.
type Fake struct {
	mu sync.Mutex
	// Registry maps a reference, as passed to Pull, to what it yields.
	Registry map[string]image.Image
	// Images are the pulled images by ID.
	Images map[string]image.Image
	// Pulls records each Pull's reference and auth.
	Pulls []PullCall
	// Usage is what FsInfo answers.
	ImagesUsage, ContainersUsage image.FsUsage
	Err                          error
}

// PullCall is one recorded Pull.
type PullCall struct {
	Ref      string
	Auth     *image.AuthConfig
	Platform string
}

// Pull copies Registry[ref] into Images; the platform is only recorded.
func (f *Fake) Pull(_ context.Context, ref string, auth *image.AuthConfig, platform string) (image.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Pulls = append(f.Pulls, PullCall{Ref: ref, Auth: auth, Platform: platform})
	if f.Err != nil {
		return image.Image{}, f.Err
	}
	im, ok := f.Registry[ref]
	if !ok {
		return image.Image{}, fmt.Errorf("pull %s: %w", ref, errdefs.ErrNotFound)
	}
	if f.Images == nil {
		f.Images = map[string]image.Image{}
	}
	f.Images[im.ID] = im
	return im, nil
}

// List returns Images, or the one filter names (any platform).
func (f *Fake) List(filter, _ string) []image.Image {
	if filter != "" {
		im, err := f.Status(filter, "")
		if err != nil {
			return nil
		}
		return []image.Image{im}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []image.Image
	for _, im := range f.Images {
		out = append(out, im)
	}
	return out
}

// Status finds an image by ID, tag or digest reference (no normalisation).
func (f *Fake) Status(ref, _ string) (image.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return image.Image{}, f.Err
	}
	for _, im := range f.Images {
		if im.ID == ref || contains(im.RepoTags, ref) || contains(im.RepoDigests, ref) {
			return im, nil
		}
	}
	return image.Image{}, fmt.Errorf("image %s: %w", ref, errdefs.ErrNotFound)
}

// Remove deletes the image ref names; absent is success.
func (f *Fake) Remove(_ context.Context, ref, platform string) error {
	im, err := f.Status(ref, platform)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.Images, im.ID)
	return nil
}

// FsInfo answers the configured usage.
func (f *Fake) FsInfo() (image.FsUsage, image.FsUsage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ImagesUsage, f.ContainersUsage, f.Err
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
