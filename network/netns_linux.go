package network

import "golang.org/x/sys/unix"

// isNetNS reports whether path is a namespace file (nsfs), such as a
// pinned network namespace.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}
