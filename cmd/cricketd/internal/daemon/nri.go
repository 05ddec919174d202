package daemon

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// nriPluginError (nri.Config.PluginError) keeps a plugin's refusal from
// reaching the kubelet as Unknown: a plugin that returns a plain error
// arrives as a ttrpc status with code Unknown whose message is all there
// is to keep. Other codes (a plugin's timeout) stay as they are, and the
// CRI layer keeps them.
func nriPluginError(err error) error {
	s, ok := status.FromError(err)
	if err == nil || !ok || s.Code() != codes.Unknown {
		return err
	}
	return fmt.Errorf("NRI plugin refused: %s: %w", s.Message(), errdefs.ErrFailedPrecondition)
}
