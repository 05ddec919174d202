// Command cricket-shim is Cricket's per-pod shim (pkg/shim/shimserver): cricketd starts
// one per pod as "cricket-shim __shim --pod ID --state DIR". It is a binary
// of its own rather than a re-exec of cricketd because its resident memory
// is paid once per pod: it links only the shim, the executors and runc's
// libcontainer (no gRPC server, no image, network or CRI code), so that its
// start touches few pages and its Go heap stays small.
//
// It also serves libcontainer's "init" re-exec: the built-in executor runs
// containers by re-executing /proc/self/exe (this binary, sealed against
// CVE-2019-5736 by libcontainer) as the container's init; and the pod init
// ("__podinit", pkg/podinit) of pods that share a pid namespace.
package main

import (
	"fmt"
	"os"

	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor runs before the Go runtime starts; in a
	// libcontainer "init" re-exec it joins the container's namespaces while
	// the process is still single-threaded. In any other run it does nothing.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	_ "github.com/cricket-cri/cricket/pkg/mainthread"
	"github.com/cricket-cri/cricket/pkg/runtime"
	"github.com/cricket-cri/cricket/pkg/shim/shimapi"
	"github.com/cricket-cri/cricket/pkg/shim/shimserver"
	// The pod init of pods that share a pid namespace ("__podinit"): a C
	// constructor that never lets the Go runtime start.
	_ "github.com/cricket-cri/cricket/pkg/podinit"
)

// buildVersion is set by the Makefile (-ldflags -X main.buildVersion=...).
var buildVersion = "unknown"

// init handles libcontainer's "init" re-exec as early as runc does, in a
// package init: the process is inside the container's namespaces already.
// Init never returns.
func init() {
	if len(os.Args) > 1 && os.Args[1] == runtime.InitArg {
		libcontainer.Init()
	}
}

const usage = `Usage: cricket-shim __shim --pod ID --state DIR [--ready-fd N] [--systemd-cgroup]
       cricket-shim version
cricket-shim is started by cricketd, one per pod; it is not meant to be run by hand.
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case shimapi.Arg:
		return shimserver.Main(args[1:])
	case "version", "--version":
		fmt.Println("cricket-shim", buildVersion)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "cricket-shim: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
