package harness

import (
	"context"
	"fmt"
	"testing"

	"github.com/cricket-cri/cricket/test/images/imagebuild"
)

// Mirror starts a registry on 127.0.0.1 that serves the catalog images
// refs under their upstream names; the caller closes it.
func Mirror(refs ...string) (*imagebuild.Mirror, error) {
	var specs []imagebuild.Spec
	for _, ref := range refs {
		s, ok := imagebuild.Lookup(ref)
		if !ok {
			return nil, fmt.Errorf("%s is not in the test image catalog", ref)
		}
		specs = append(specs, s)
	}
	m, err := imagebuild.StartMirror(context.Background(), "127.0.0.1:0", specs, imagebuild.MirrorOptions{})
	if err != nil {
		return nil, fmt.Errorf("start the test image mirror: %w", err)
	}
	return m, nil
}

// StartMirror is Mirror for one test: it fails t on error and closes the
// mirror when t ends.
func StartMirror(t testing.TB, refs ...string) *imagebuild.Mirror {
	t.Helper()
	m, err := Mirror(refs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}
