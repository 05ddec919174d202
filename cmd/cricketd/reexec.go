package main

import (
	"os"

	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor runs before the Go runtime starts; in a
	// libcontainer "init" re-exec it joins the container's namespaces while
	// the process is still single-threaded. In any other run it does nothing.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/shim"
)

// init handles libcontainer's "init" re-exec (/proc/self/exe init) as early
// as runc does, in a package init: the process is inside the container's
// namespaces already and must not run the daemon's start-up. Init never
// returns.
func init() {
	if len(os.Args) > 1 && os.Args[1] == runtime.InitArg {
		libcontainer.Init()
	}
}

// reexec runs the hidden entry points that cricketd re-executes itself for
// and reports whether it handled one; main calls it first:
//
//	"__shim" - the per-pod shim (pkg/shim), started by shim.Start;
//	"init"   - libcontainer's container init, handled in init above.
//
// When it returns true the process has done its work and exits with the
// entry point's status.
func reexec() bool {
	if len(os.Args) < 2 {
		return false
	}
	switch os.Args[1] {
	case shim.Arg:
		os.Exit(shim.Main(os.Args[2:]))
	case runtime.InitArg:
		libcontainer.Init() // not reached: init() already ran it
	}
	return false
}
