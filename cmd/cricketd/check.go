package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"k8s.io/klog/v2"

	"github.com/cricket-cri/cricket/cmd/cricketd/internal/hostcheck"
)

// check is `cricketd check`: the configuration (merged as serve merges
// it) and the host, one line per check. It exits non-zero when a check
// failed that would break pods; warnings are about optional features.
func check(args []string) int {
	f, err := parseFlags("check", args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cricketd:", err)
		return exitConfig
	}
	// The lines are the output: the libraries' log lines would only
	// repeat them.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	h := hostcheck.Host{}
	h.Config, _, h.ConfigErr = f.load()
	if h.ConfigErr == nil {
		h.ConfigFiles, h.ConfigErr = f.files().Paths()
	}
	h.ShimBinary, h.ShimErr = findShim(f.shimBinary)
	if hostcheck.Write(os.Stdout, hostcheck.Run(context.Background(), h)) {
		return exitError
	}
	return exitOK
}
