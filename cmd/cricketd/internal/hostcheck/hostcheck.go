// Package hostcheck is `cricketd check`: whether this host and the
// configuration can run pods, one line per check, each OK or the fix.
// What operators of containerd and CRI-O piece together by hand (crictl
// info, criu check, a look at /proc and /sys) in one command.
package hostcheck

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Status is the outcome of one check.
type Status int

// Outcomes: Fail is what would break pods; Warn is an optional feature
// that is missing or a setting that is not advised.
const (
	OK Status = iota
	Warn
	Fail
)

func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case Warn:
		return "WARN"
	default:
		return "FAIL"
	}
}

// Result is the outcome of one check: what was found, or the fix.
type Result struct {
	Name   string
	Status Status
	Msg    string
}

func ok(name, format string, args ...any) Result {
	return Result{Name: name, Status: OK, Msg: fmt.Sprintf(format, args...)}
}

func warn(name, format string, args ...any) Result {
	return Result{Name: name, Status: Warn, Msg: fmt.Sprintf(format, args...)}
}

func fail(name, format string, args ...any) Result {
	return Result{Name: name, Status: Fail, Msg: fmt.Sprintf(format, args...)}
}

// Write prints one line per result ("OK    name: msg"; a message of
// several lines continues indented) and reports whether any failed.
func Write(w io.Writer, results []Result) (failed bool) {
	for _, r := range results {
		msg := strings.ReplaceAll(strings.TrimSpace(r.Msg), "\n", "\n      ")
		fmt.Fprintf(w, "%-5s %s: %s\n", r.Status, r.Name, msg)
		failed = failed || r.Status == Fail
	}
	return failed
}

// Run runs every check on h, in order.
func Run(ctx context.Context, h Host) []Result {
	out := []Result{h.checkConfig(), h.checkShim()}
	cfg := h.effectiveConfig()
	out = append(out, h.checkCgroups(cfg)...)
	out = append(out,
		h.checkCNI(cfg),
		h.checkOverlay(cfg),
		h.checkIDMapped(cfg),
		h.checkSeccomp(),
		h.checkAppArmor(),
		h.checkSELinux(),
		h.checkCRIU(ctx),
	)
	return append(out, h.checkHandlers(ctx, cfg)...)
}
