package daemon

// The pod init's C entry point lives in pkg/podinit, which cricket-shim
// links too; without cgo the Go init in namespaces_linux.go serves instead.
import _ "github.com/cricket-cri/cricket/pkg/podinit"
