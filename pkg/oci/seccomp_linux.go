package oci

import (
	"fmt"
	"os"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// LoadSeccompProfile reads a Localhost seccomp profile for the host's
// architecture. A missing file is InvalidArgument: the request names it.
func LoadSeccompProfile(path string) (*specs.LinuxSeccomp, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("seccomp profile %s: %w: %w", path, err, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return nil, fmt.Errorf("read seccomp profile %s: %w", path, err)
	}
	p, err := ParseSeccompProfile(data, runtime.GOARCH)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", path, err)
	}
	return p, nil
}
