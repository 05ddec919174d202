// Package podinit is the init of a pod's own pid namespace: a process that
// reaps every orphan the kernel hands it and exits on SIGTERM or SIGINT. A
// pid namespace, unlike net, ipc and uts, dies with its pid 1, so a pod
// whose containers share one needs this process.
//
// Linking this package is enough: with cgo, a C constructor serves
// "BINARY __podinit" before the Go runtime starts (cricketd links it
// through cmd/cricketd/internal/daemon, cricket-shim directly), so that either binary can
// be started as a pod init.
package podinit

// Arg is os.Args[1] of a pod init.
const Arg = "__podinit"
