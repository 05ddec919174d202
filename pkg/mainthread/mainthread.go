// Package mainthread keeps the process's main thread for the main
// goroutine. Import it for its side effect in every program (and test
// binary) that enters namespaces from goroutines.
//
// Code that joins another namespace locks its goroutine to an OS thread
// and lets the thread end with the goroutine: libcontainer's mount-source
// thread joins a container's mount namespace while it starts the
// container, and pkg/nsutil and pkg/snapshot unshare on such threads. The
// Go runtime cannot end the main thread, so a locked goroutine that ran on
// it and exits leaves it wedged, still in the namespace it joined. /proc/self
// then describes that namespace (its mountinfo lists a container's mounts,
// not the host's, which cgroup and mount lookups read), and the namespace,
// with every mount in it, lives as long as the process. A package init
// runs on the main goroutine before main and before any goroutine of the
// program exists; locking it there means no other goroutine ever runs on
// the main thread (runtime.LockOSThread documents this use).
package mainthread

import "runtime"

func init() {
	runtime.LockOSThread()
}
