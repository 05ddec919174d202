#!/usr/bin/env bash
# Builds Debian 12's crun with CRIU support, once, and prints the binary's
# path. Debian's crun package is built without CRIU ("unknown command
# checkpoint"), so its handler cannot checkpoint; the test/vm node runs
# this build instead (test/vm/stage-full.sh stages it, suites/full.sh
# installs it over /usr/bin/crun).
#
#   test/vm/crun-criu.sh        prints /var/cache/cricket-test/crun-<crun>-criu-<criu>/crun
#
# The source is Debian's: `apt-get source crun` at the version of the
# installed crun package (the VM node's crun: the same Debian 12 release),
# with Debian's patches, configured with --enable-criu against the criu
# package's libcriu headers and criu.pc (crun dlopens libcriu.so.2, which
# the criu package ships). The deb-src entry lives in a private apt
# configuration under a temporary directory: the host's apt sources are
# not touched. The cache key is the crun and criu package versions.
set -euo pipefail

log() { printf 'crun-criu: %s\n' "$*" >&2; }
die() { printf 'crun-criu: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"

# The build needs the installed crun (its version names the source) and
# criu (libcriu's headers and criu.pc), and the build dependencies.
need=(crun criu gcc make pkg-config dpkg-dev libseccomp-dev libyajl-dev libcap-dev libsystemd-dev libprotobuf-c-dev gperf python3 xz-utils)
missing=()
for p in "${need[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
crun_ver=$(dpkg-query -W -f='${Version}' crun 2>/dev/null || true)
criu_ver=$(dpkg-query -W -f='${Version}' criu 2>/dev/null || true)
CACHE=${CRICKET_TEST_CACHE:-/var/cache/cricket-test}
if [ -n "$crun_ver" ] && [ -n "$criu_ver" ]; then
	out=$CACHE/crun-$crun_ver-criu-$criu_ver
	if [ -x "$out/crun" ] && grep -q '+CRIU' <<<"$("$out/crun" --version)"; then
		echo "$out/crun"
		exit 0
	fi
fi

if [ "${#missing[@]}" -gt 0 ]; then
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
	crun_ver=$(dpkg-query -W -f='${Version}' crun)
	criu_ver=$(dpkg-query -W -f='${Version}' criu)
	out=$CACHE/crun-$crun_ver-criu-$criu_ver
fi
pkg-config --exists 'criu >= 3.15' || die "the criu package ships no criu.pc >= 3.15 (libcriu): crun cannot be built with CRIU"

tmp=$(mktemp -d /tmp/crun-criu-XXXXXX)
trap 'rm -rf --one-file-system "$tmp"' EXIT
# A private apt configuration with only Debian's deb-src entries for the
# release the host runs; its package lists stay in $tmp.
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
cat >"$tmp/sources.list" <<EOF
deb-src http://deb.debian.org/debian $codename main
deb-src http://deb.debian.org/debian $codename-updates main
deb-src http://deb.debian.org/debian-security $codename-security main
EOF
mkdir -p "$tmp/lists/partial"
apt_src=(-o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$tmp/lists")
log "fetching crun $crun_ver's Debian source"
apt-get "${apt_src[@]}" update -qq >"$tmp/apt.log" 2>&1 || die "apt-get update (deb-src) failed: $(tail -n 3 "$tmp/apt.log")"
mkdir "$tmp/src"
(cd "$tmp/src" && apt-get "${apt_src[@]}" source --download-only "crun=$crun_ver") >>"$tmp/apt.log" 2>&1 ||
	die "apt-get source crun=$crun_ver failed: $(tail -n 3 "$tmp/apt.log")"
(cd "$tmp/src" && dpkg-source -x ./crun_*.dsc crun) >>"$tmp/apt.log" 2>&1 || die "dpkg-source -x failed: $(tail -n 3 "$tmp/apt.log")"

log "building crun $crun_ver with CRIU (libcriu $criu_ver)"
src=$tmp/src/crun
(cd "$src" && ./configure --prefix=/usr --enable-criu --disable-static) >"$tmp/build.log" 2>&1 ||
	die "configure failed: $(tail -n 5 "$tmp/build.log")"
grep -q '^checking for CRIU... yes' "$tmp/build.log" || die "configure did not find libcriu (criu.pc)"
# git-version.h and .version are BUILT_SOURCES of `make all`, which would
# also build the man pages and python bindings: only the binary is needed.
(cd "$src" && make -j"$(nproc)" git-version.h .version crun) >>"$tmp/build.log" 2>&1 ||
	die "make failed: $(tail -n 5 "$tmp/build.log")"
grep -q '+CRIU' <<<"$("$src/crun" --version)" || die "the built crun does not list +CRIU: $("$src/crun" --version | tail -n 1)"

mkdir -p "$out"
install -m 0755 "$src/crun" "$out/crun.new"
mv "$out/crun.new" "$out/crun"
log "built $out/crun: $("$out/crun" --version | tail -n 1)"
echo "$out/crun"
