//go:build !cgo

package shim

// mallocTrim has no C heap to trim without cgo.
func mallocTrim() {}
