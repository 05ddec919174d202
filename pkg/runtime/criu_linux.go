package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/cricket-cri/cricket/pkg/errdefs"
)

// CRIUBinary is the name checkpoint and restore look CRIU up by: libcontainer
// (through go-criu) and the runc and crun CLIs all run "criu" from PATH.
const CRIUBinary = "criu"

// probeTimeout bounds "criu check", which inspects the kernel.
const probeTimeout = 30 * time.Second

// CRIU is what the probe found out about the host's CRIU.
type CRIU struct {
	// Path is the binary found in PATH; empty when there is none.
	Path string
	// Version is the first line of "criu --version".
	Version string
	// Err is nil when "criu check" passed; otherwise it says why CRIU is
	// unusable, in CRIU's words, and wraps errdefs.ErrFailedPrecondition.
	Err error
}

// Usable reports whether checkpoint and restore can work on this host.
func (c CRIU) Usable() bool { return c.Err == nil }

// ProbeCRIU looks for CRIU in PATH and runs "criu check", which tests the
// kernel features a dump and a restore need.
func ProbeCRIU(ctx context.Context) CRIU {
	return ProbeCRIUBinary(ctx, CRIUBinary)
}

// ProbeCRIUBinary is ProbeCRIU for the binary called name (tests give a
// fake).
func ProbeCRIUBinary(ctx context.Context, name string) CRIU {
	path, err := exec.LookPath(name)
	if err != nil {
		return CRIU{Err: fmt.Errorf("CRIU is unusable: %s not found in PATH: %w", name, errdefs.ErrFailedPrecondition)}
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	c := CRIU{Path: path}
	if out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput(); err == nil {
		c.Version = firstLine(out)
	}
	out, err := exec.CommandContext(ctx, path, "check").CombinedOutput()
	if err != nil {
		c.Err = fmt.Errorf("CRIU is unusable: %s check: %s: %w", path, criuReason(out, err), errdefs.ErrFailedPrecondition)
	}
	return c
}

func firstLine(out []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}

// criuReason keeps the lines of CRIU's output that say what failed (its
// "Error" lines and its verdict), at most a few hundred bytes of them.
func criuReason(out []byte, err error) string {
	var keep []string
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		l := strings.TrimSpace(string(line))
		if strings.HasPrefix(l, "Error") || strings.Contains(l, "not going to work") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		keep = []string{firstLine(out)}
	}
	reason := strings.Join(keep, "; ")
	if len(reason) > 400 {
		reason = reason[:400] + "…"
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return fmt.Sprintf("%s (%s)", reason, exitErr.ProcessState)
	}
	return fmt.Sprintf("%s (%v)", reason, err)
}
