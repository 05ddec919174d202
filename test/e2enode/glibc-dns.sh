#!/usr/bin/env bash
# Builds the root file system of e2e-test-images/glibc-dns-testing (see
# imagebuild.GlibcDNSTestingSpec) once per package list and apt sources:
# Debian 12 minbase with dnsutils, made by mmdebstrap from this machine's
# apt sources, cached under /var/cache/cricket-test. Prints the tar's path.
set -euo pipefail
CACHE=${E2ENODE_CACHE:-/var/cache/cricket-test}
PACKAGES=dnsutils
SOURCES=/etc/apt/sources.list.d/debian.sources
command -v mmdebstrap >/dev/null || {
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
}
key=$( { echo "$PACKAGES"; cat "$SOURCES"; mmdebstrap --version; } | sha256sum | cut -c1-12)
out=$CACHE/glibc-dns-testing-rootfs-$key.tar
if [ ! -s "$out" ]; then
	mkdir -p "$CACHE"
	echo "glibc-dns.sh: building $out" >&2
	start=$SECONDS
	mmdebstrap --quiet --variant=minbase --format=tar --include="$PACKAGES" \
		--dpkgopt='path-exclude=/usr/share/{doc,man,locale}/*' \
		bookworm "$out.tmp.$$" "$SOURCES" >&2
	mv "$out.tmp.$$" "$out"
	echo "glibc-dns.sh: built in $((SECONDS - start))s" >&2
fi
echo "$out"
