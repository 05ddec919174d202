#!/usr/bin/env bash
# Builds upstream BusyBox for the images of Kubernetes' suites (node and
# cluster conformance) once per version, compiler and this script, cached
# under /var/cache/cricket-test, and prints the binary's path.
#
# Why not Debian's /bin/busybox, which critest's images use: Debian patches
# ash (busybox 1.35.0-4+deb12u1, revert-9c143ce52da1.patch and
# temp-deb-installer-hack.patch) to drop environment variables whose names
# are not shell identifiers. Kubernetes' ConfigMap and Secret `[Conformance]`
# specs put `data-1` and the like in a container's environment and read them
# back with `sh -c env`; upstream ash passes them on, as the upstream busybox
# image those specs are written for does. The source is Debian's copy of the
# upstream tarball (deb.debian.org is reachable; GitHub and busybox.net are
# not here), checked against the SHA-256 that bookworm's Sources index gives.
# Configuration: upstream defconfig, dynamically linked like Debian's (a
# static busybox's ash runs applets as builtins, see imagebuild).
set -euo pipefail
CACHE=${E2ENODE_CACHE:-/var/cache/cricket-test}
VERSION=1.35.0
SHA256=faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694
URL=${BUSYBOX_URL:-http://deb.debian.org/debian/pool/main/b/busybox/busybox_$VERSION.orig.tar.bz2}
for tool in gcc make bzip2; do
	command -v $tool >/dev/null || {
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc make bzip2 libc6-dev >/dev/null
		break
	}
done
key=$( { echo "$VERSION $SHA256"; gcc --version | head -n 1; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-12)
out=$CACHE/busybox-$VERSION-$key/busybox
if [ ! -x "$out" ]; then
	echo "busybox.sh: building $out" >&2
	start=$SECONDS
	tmp=$(mktemp -d /tmp/busybox-build-XXXXXX)
	trap 'rm -rf "$tmp"' EXIT
	curl -fsS --retry 3 -o "$tmp/src.tar.bz2" "$URL"
	echo "$SHA256  $tmp/src.tar.bz2" | sha256sum -c --quiet - >&2 ||
		{ echo "busybox.sh: $URL does not have the expected SHA-256" >&2; exit 1; }
	tar -C "$tmp" -xjf "$tmp/src.tar.bz2"
	src=$tmp/busybox-$VERSION
	make -C "$src" -s defconfig >/dev/null
	# defconfig is dynamic and runs applets as separate processes; say so
	# rather than trust it, as imagebuild relies on both.
	for opt in CONFIG_STATIC CONFIG_FEATURE_SH_STANDALONE CONFIG_FEATURE_PREFER_APPLETS; do
		if grep -q "^$opt=y" "$src/.config"; then
			echo "busybox.sh: defconfig sets $opt" >&2
			exit 1
		fi
	done
	make -C "$src" -s -j"$(nproc)" busybox >"$tmp/build.log" 2>&1 || { tail -n 30 "$tmp/build.log" >&2; exit 1; }
	"$src/busybox" sh -c 'exit 0'
	mkdir -p "$(dirname "$out")"
	install -m 0755 "$src/busybox" "$out.tmp.$$"
	mv "$out.tmp.$$" "$out"
	echo "busybox.sh: built in $((SECONDS - start))s" >&2
fi
echo "$out"
