// Package nsutil creates the namespaces of a pod sandbox and pins each to a
// file with a bind mount, so that they outlive any process and containers
// can join them by path. No pause process is kept.
//
// Namespace-sensitive work never runs on a shared thread of the daemon: it
// runs on a goroutine that locks its OS thread and returns without
// unlocking it, so that the Go runtime destroys the thread instead of
// handing a thread in a foreign namespace to other goroutines. The main
// thread is never used for it (the runtime cannot end that thread, and
// /proc/self/ns shows its namespaces); a daemon may additionally lock its
// main goroutine to the main thread in an init function.
package nsutil
