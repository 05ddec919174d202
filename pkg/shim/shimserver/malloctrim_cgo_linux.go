//go:build cgo

package shimserver

/*
#include <malloc.h>
*/
import "C"

// mallocTrim returns the free memory of the C heap to the kernel. The shim
// runs C code on several threads (libseccomp compiles each container's
// filter), and glibc keeps a malloc arena per thread that it never gives
// back on its own: a few hundred KiB per shim, for nothing.
func mallocTrim() { C.malloc_trim(0) }
