package cri

import (
	"fmt"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// notImplemented is the answer of an RPC whose service the daemon runs
// without (a test wiring, see sandboxes and containers): codes.Unimplemented
// with a message naming the RPC, never a fake success. Every CRI RPC is
// built.
func notImplemented(rpc, area string) error {
	return fmt.Errorf("cricket does not implement %s yet (%s): %w", rpc, area, errdefs.ErrNotImplemented)
}
