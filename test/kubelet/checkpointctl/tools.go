//go:build tools

package tools

import _ "github.com/checkpoint-restore/checkpointctl"
