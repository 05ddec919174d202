package main

import (
	"maps"
	"testing"

	"github.com/cricket-cri/cricket/pkg/config"
)

// TestHandlerPlatforms: only handlers with a platform are listed, the
// default one also under the empty name.
func TestHandlerPlatforms(t *testing.T) {
	cfg := config.Default()
	cfg.Runtime.Handlers["arm"] = config.Handler{Type: config.HandlerBuiltin, Platform: "linux/arm64"}
	if got, want := handlerPlatforms(cfg), map[string]string{"arm": "linux/arm64"}; !maps.Equal(got, want) {
		t.Errorf("platforms = %v, want %v", got, want)
	}
	cfg.Runtime.DefaultHandler = "arm"
	if got, want := handlerPlatforms(cfg), map[string]string{"arm": "linux/arm64", "": "linux/arm64"}; !maps.Equal(got, want) {
		t.Errorf("platforms with arm the default = %v, want %v", got, want)
	}
}
