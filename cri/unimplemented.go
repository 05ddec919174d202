package cri

import (
	"fmt"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// The RPCs below are not built yet. Each answers codes.Unimplemented with a
// message naming it, never a fake success. A method moves to its own file
// (one file per RPC) when it is built.

func notImplemented(rpc, area string) error {
	return fmt.Errorf("cricket does not implement %s yet (%s): %w", rpc, area, errdefs.ErrNotImplemented)
}
