// Package standins holds the source of the small static programs that
// test/images puts into test images where Debian's busybox has no equivalent:
// pause (sleeps until SIGTERM/SIGINT), nginx (an nginx-shaped master process
// in front of busybox httpd) and nnp (the nonewprivs probe). imagebuild
// compiles them with CGO_ENABLED=0 at image build time.
package standins
