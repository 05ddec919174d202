#!/usr/bin/env bash
# Builds the SELinux variant of the test/vm node once, and prints the
# directory that holds it:
#
#   test/vm/build-selinux.sh    -> /var/cache/cricket-test/vm-selinux-<key>
#
# It starts from the cached default node (test/vm/build.sh, built first if
# missing; its key is not changed), copies its disk and, in a chroot of the
# copy, installs Debian's SELinux reference policy (selinux-policy-default,
# from the machine's own apt sources, as build.sh does), compiles the
# policy's own `container` module, which Debian does not ship, from
# selinux-policy-src of the same version with the policy's devel headers,
# adds the local module test/vm/selinux-policy/cricket_engine.te (what the
# container module lacks for Cricket: see that file), loads both, and
# labels the whole filesystem with setfiles, so that the first boot needs
# no relabelling. The directory holds vmlinuz, initrd.img (the default
# node's), base.qcow2 and cmdline: the kernel arguments that boot it with
# SELinux enforcing (run.sh --suite selinux and --shell --selinux add them).
# <key> hashes this script, the policy dir and the default node's key.
# Needs root (loop mount, chroot).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${CRICKET_VM_CACHE:-/var/cache/cricket-test}
CMDLINE="security=selinux selinux=1 enforcing=1"
PACKAGES=(
	selinux-basics selinux-policy-default selinux-policy-dev selinux-policy-src selinux-utils
	policycoreutils checkpolicy semodule-utils make m4 zstd
)

log() { printf 'vm build-selinux: %s\n' "$*" >&2; }
die() { printf 'vm build-selinux: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (loop mount, chroot)"

# The caller (run.sh) holds the build lock: build.sh runs without it here.
BASE=$("$HERE/build.sh") || die "building the default node failed"
KEY=$({ sha256sum "$HERE/build-selinux.sh"; find "$HERE/selinux-policy" -type f | sort | xargs sha256sum; echo "$BASE"; } | sha256sum | cut -c1-12)
OUT=$CACHE/vm-selinux-$KEY
if [ -f "$OUT/ready" ]; then
	echo "$OUT"
	exit 0
fi

SOURCES=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] && grep -q '^[^#[:space:]]' "$f" && SOURCES+=("$f")
done
[ ${#SOURCES[@]} -gt 0 ] || die "no apt sources in /etc/apt"

start=$(date +%s)
TMP=$(mktemp -d "$CACHE/vm-selinux-build-XXXXXX")
R=$TMP/root
MOUNTS=()
cleanup() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null || true
	done
	rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
log "building the SELinux node into $OUT from $BASE"

qemu-img convert -f qcow2 -O raw "$BASE/base.qcow2" "$TMP/root.ext4"
mkdir -p "$R"
mount -o loop "$TMP/root.ext4" "$R"
MOUNTS+=("$R")
grep -q '^CONFIG_SECURITY_SELINUX=y' "$R"/boot/config-* || die "the node's kernel has no SELinux (CONFIG_SECURITY_SELINUX)"
for d in proc sys dev; do
	mount --rbind "/$d" "$R/$d"
	mount --make-rslave "$R/$d"
	MOUNTS+=("$R/$d")
done
# apt in the chroot resolves names as the machine does.
[ -e "$R/etc/resolv.conf" ] && mv "$R/etc/resolv.conf" "$R/etc/resolv.conf.orig"
cp /etc/resolv.conf "$R/etc/resolv.conf"
for f in "${SOURCES[@]}"; do cp "$f" "$R/etc/apt/sources.list.d/cricket-build-$(basename "$f")"; done
in_root() { chroot "$R" env DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"; }
in_root apt-get update -qq >&2
in_root apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >&2
rm -f "$R"/etc/apt/sources.list.d/cricket-build-*
in_root apt-get clean

# The container module, from the policy's own source, with the devel
# headers of the same version; then Cricket's local module.
ver=$(in_root dpkg-query -W -f='${Version}' selinux-policy-default)
[ "$(in_root dpkg-query -W -f='${Version}' selinux-policy-src)" = "$ver" ] || die "selinux-policy-src is not $ver"
mkdir -p "$R/tmp/policy"
tar -C "$R/tmp/policy" --zstd -xf "$R/usr/src/selinux-policy-src.tar.zst" --wildcards '*/policy/modules/services/container.te' '*/policy/modules/services/container.fc' --strip-components=4
cp "$HERE"/selinux-policy/* "$R/tmp/policy/"
in_root make -C /tmp/policy -f /usr/share/selinux/devel/Makefile container.pp cricket_engine.pp >&2
in_root semodule -n -i /tmp/policy/container.pp /tmp/policy/cricket_engine.pp
grep -q '^container' <<<"$(in_root semodule -n -l)" || die "the container module is not installed"
rm -rf "$R/tmp/policy"

cat >"$R/etc/selinux/config" <<'CONFIG'
# Written by test/vm/build-selinux.sh
SELINUX=enforcing
SELINUXTYPE=default
CONFIG
# The suite driver runs unconfined, as an administrator's shell would; what
# it starts through systemd (cricketd.service) or runs labelled as an
# engine (cricketd) gets the policy's domains.
mkdir -p "$R/etc/systemd/system/cricket-vm-run.service.d"
printf '[Service]\nSELinuxContext=unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023\n' \
	>"$R/etc/systemd/system/cricket-vm-run.service.d/selinux.conf"

rm -f "$R/etc/resolv.conf"
[ -e "$R/etc/resolv.conf.orig" ] && mv "$R/etc/resolv.conf.orig" "$R/etc/resolv.conf"
# Label everything now (the policy's file contexts), not at first boot;
# setfiles sets labels through /proc/self/fd, so /proc stays mounted (and
# is left out, as the machine's /sys and /dev are).
in_root setfiles -F -e /proc -e /sys -e /dev /etc/selinux/default/contexts/files/file_contexts / >&2
for ((i = ${#MOUNTS[@]} - 1; i >= 1; i--)); do umount -l "${MOUNTS[$i]}"; done
MOUNTS=("$R")
echo "selinux-policy-default $ver" >"$TMP/policy-version"
sync
umount "$R"
MOUNTS=()

mkdir -p "$TMP/out"
cp "$BASE/vmlinuz" "$BASE/initrd.img" "$TMP/out/"
qemu-img convert -f raw -O qcow2 "$TMP/root.ext4" "$TMP/out/base.qcow2"
echo "$CMDLINE" >"$TMP/out/cmdline"
mv "$TMP/policy-version" "$TMP/out/"
echo "$BASE" >"$TMP/out/from"
touch "$TMP/out/ready"
rm -rf "$OUT"
mv "$TMP/out" "$OUT"
log "built in $(($(date +%s) - start))s: $OUT ($(du -sh "$OUT/base.qcow2" | cut -f1) image)"
echo "$OUT"
