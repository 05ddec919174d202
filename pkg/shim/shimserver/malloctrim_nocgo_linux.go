//go:build !cgo

package shimserver

// mallocTrim has no C heap to trim without cgo.
func mallocTrim() {}
