#!/usr/bin/env bash
# Builds the cgroup v2 + systemd + AppArmor test node of test/vm once, and
# prints the directory that holds it:
#
#   test/vm/build.sh            -> /var/cache/cricket-test/vm-<key>
#
# The node is Debian 12 (the machine's own apt sources) made by mmdebstrap
# with systemd as PID 1, AppArmor, the CNI plugins, runc, crun and criu, and
# Debian's cloud kernel (6.1: cgroup v2 with every controller, AppArmor on by
# default); its initramfs-tools initrd loads the virtio drivers. The
# directory holds vmlinuz, initrd.img and base.qcow2; a run never writes to
# them (run.sh boots a copy-on-write overlay). <key> hashes this script, so a
# change to the package list or the node's configuration builds a new one.
# Needs root; installs its own tools (qemu, mmdebstrap) from apt.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${CRICKET_VM_CACHE:-/var/cache/cricket-test}
# Size of the root filesystem (sparse: the qcow2 holds only what is written).
ROOT_SIZE=${CRICKET_VM_ROOT_SIZE:-12G}

PACKAGES=(
	systemd systemd-sysv dbus udev kmod
	linux-image-cloud-amd64 initramfs-tools
	apparmor apparmor-utils
	iptables iproute2 containernetworking-plugins
	runc crun criu
	busybox e2fsprogs util-linux procps psmisc ca-certificates libseccomp2
)

log() { printf 'vm build: %s\n' "$*" >&2; }
die() { printf 'vm build: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap, mkfs)"

host_tools() {
	local want=(qemu-system-x86 qemu-utils mmdebstrap e2fsprogs) missing=() p
	for p in "${want[@]}"; do
		[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

KEY=$(sha256sum "$HERE/build.sh" | cut -c1-12)
OUT=$CACHE/vm-$KEY
if [ -f "$OUT/ready" ]; then
	echo "$OUT"
	exit 0
fi
host_tools

# The machine's own apt sources, so the node gets the same package versions.
SOURCES=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] && grep -q '^[^#[:space:]]' "$f" && SOURCES+=("$f")
done
[ ${#SOURCES[@]} -gt 0 ] || die "no apt sources in /etc/apt"

mkdir -p "$CACHE"
TMP=$(mktemp -d "$CACHE/vm-build-XXXXXX")
trap 'rm -rf --one-file-system "$TMP"' EXIT
start=$(date +%s)
log "building the node into $OUT (mmdebstrap: ${#PACKAGES[@]} packages and their dependencies; a few minutes)"

# customize: the node's configuration, run by mmdebstrap on the finished tree ($1).
cat >"$TMP/customize.sh" <<'CUSTOMIZE'
#!/bin/sh
set -eu
R=$1
echo cricket-node >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tcricket-node\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
printf 'LABEL=cricket-root\t/\text4\trw,errors=remount-ro\t0\t1\n' >"$R/etc/fstab"
# No password: the serial console logs root in (vm-shell); the node has no
# network reachable from outside.
chroot "$R" passwd -d root >/dev/null
mkdir -p "$R/etc/systemd/system/serial-getty@ttyS0.service.d"
cat >"$R/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
UNIT
# The suite run: with cricket.run on the kernel command line, mount the work
# disk, run its run.sh, keep its output there and power off.
cat >"$R/etc/systemd/system/cricket-vm-run.service" <<'UNIT'
[Unit]
Description=Cricket test run from the work disk
ConditionKernelCommandLine=cricket.run
After=multi-user.target
Wants=multi-user.target

[Service]
Type=oneshot
StandardOutput=journal+console
StandardError=journal+console
ExecStart=/usr/local/sbin/cricket-vm-run
ExecStopPost=/bin/systemctl --no-block poweroff
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
UNIT
cat >"$R/usr/local/sbin/cricket-vm-run" <<'SCRIPT'
#!/bin/sh
# Runs /work/run.sh from the disk labelled cricket-work; its output goes to
# /work/results/run.log and the console; its exit code to /work/results/rc.
mkdir -p /work
mount LABEL=cricket-work /work || { echo "cricket-vm-run: no work disk"; exit 1; }
mkdir -p /work/results
echo "cricket-vm-run: start $(date -u +%FT%TZ)"
rc=0
/work/run.sh 2>&1 | tee /work/results/run.log || true
rc=$(cat /work/results/rc 2>/dev/null || echo 1)
echo "cricket-vm-run: end $(date -u +%FT%TZ) rc=$rc"
journalctl -b --no-pager >/work/results/journal.log 2>&1 || true
sync
umount /work || umount -l /work
exit 0
SCRIPT
chmod 0755 "$R/usr/local/sbin/cricket-vm-run"
chroot "$R" systemctl enable cricket-vm-run.service >/dev/null 2>&1
# Nothing the tests do not need: no timers, no network configuration.
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer man-db.timer dpkg-db-backup.timer; do
	chroot "$R" systemctl disable "$u" >/dev/null 2>&1 || true
	chroot "$R" systemctl mask "$u" >/dev/null 2>&1 || true
done
# The loopback interface is all the tests use (registry and pods on 127.0.0.1
# and bridges they make); systemd brings lo up.
mkdir -p "$R/etc/modules-load.d"
printf 'overlay\nbr_netfilter\nveth\nbridge\n' >"$R/etc/modules-load.d/cricket.conf"
printf 'net.ipv4.ip_forward = 1\n' >"$R/etc/sysctl.d/90-cricket.conf"
# The initrd loads the virtio drivers to find the root disk.
printf 'virtio_pci\nvirtio_blk\nvirtio_net\next4\n' >>"$R/etc/initramfs-tools/modules"
chroot "$R" update-initramfs -u -k all >/dev/null
mkdir -p "$R/opt/cni" && ln -sfn /usr/lib/cni "$R/opt/cni/bin"
CUSTOMIZE
chmod +x "$TMP/customize.sh"

mmdebstrap --variant=minbase --mode=root \
	--include="$(IFS=,; echo "${PACKAGES[*]}")" \
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--customize-hook="$TMP/customize.sh \"\$1\"" \
	bookworm "$TMP/root" "${SOURCES[@]}" >&2

mkdir -p "$TMP/out"
cp "$TMP"/root/boot/vmlinuz-* "$TMP/out/vmlinuz"
cp "$TMP"/root/boot/initrd.img-* "$TMP/out/initrd.img"
truncate -s "$ROOT_SIZE" "$TMP/root.ext4"
mkfs.ext4 -q -L cricket-root -d "$TMP/root" "$TMP/root.ext4"
qemu-img convert -f raw -O qcow2 "$TMP/root.ext4" "$TMP/out/base.qcow2"
printf '%s\n' "${PACKAGES[@]}" >"$TMP/out/packages"
chroot "$TMP/root" dpkg-query -W >"$TMP/out/versions"
touch "$TMP/out/ready"
rm -rf "$OUT"
mv "$TMP/out" "$OUT"
log "built in $(($(date +%s) - start))s: $OUT ($(du -sh "$OUT/base.qcow2" | cut -f1) base image)"
echo "$OUT"
