// Package podinit is the init of a pod's own pid namespace (or of its user
// namespace): a process that reaps every orphan the kernel hands it and
// exits on SIGTERM or SIGINT. A pid namespace, unlike net, ipc and uts,
// dies with its pid 1, so a pod whose containers share one needs this
// process (the only one a pod has besides its shim). The daemon starts it
// as the shim binary with Arg (Start), pkg/nsutil pins its namespaces, and
// Kill ends it.
//
// Linking this package is enough for a binary to serve "BINARY __podinit":
// with cgo, a C constructor serves it before the Go runtime starts
// (cricket-shim, the binary the daemon starts, links it); without cgo a Go
// init does.
package podinit

// Arg is os.Args[1] of a pod init.
const Arg = "__podinit"

// PIDFile is the file, in a pod's namespace dir, that records the pid of
// the pod's init while it holds the pod's pid namespace.
const PIDFile = "pid.init"
