package apparmor

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// ExecParser is apparmor_parser.
type ExecParser struct {
	// Path is the binary.
	Path string
}

// FindParser looks up apparmor_parser in PATH, then in /sbin and
// /usr/sbin, where Debian installs it but a daemon's PATH may not reach.
func FindParser() (ExecParser, error) {
	for _, p := range []string{"apparmor_parser", "/sbin/apparmor_parser", "/usr/sbin/apparmor_parser"} {
		if path, err := exec.LookPath(p); err == nil {
			return ExecParser{Path: path}, nil
		}
	}
	return ExecParser{}, ErrNoParser
}

// Load runs `apparmor_parser -Kr FILE`: replace the profile (or add it),
// without reading or writing the parser's cache, whose entries could be
// stale for a profile generated again.
func (p ExecParser) Load(ctx context.Context, path string) error {
	cmd := exec.CommandContext(ctx, p.Path, "-Kr", path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s -Kr %s: %w: %s", p.Path, path, err, strings.TrimSpace(out.String()))
	}
	return nil
}
