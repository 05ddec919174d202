package daemon

import (
	"context"
	"testing"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

func TestNewNeedsItsDependencies(t *testing.T) {
	if _, err := New(context.Background(), Options{}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("err = %v, want InvalidArgument", err)
	}
}
