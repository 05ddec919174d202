// Package standins holds the source of the small static programs that
// test/images puts into test images where Debian's busybox has no equivalent:
// pause (sleeps until SIGTERM/SIGINT), nginx (an nginx-shaped master process
// in front of busybox httpd), nnp (the nonewprivs probe) and nmeter (the time
// with milliseconds, busybox's nmeter '%3t'). imagebuild
// compiles them with CGO_ENABLED=0 at image build time.
package standins
