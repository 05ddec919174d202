#!/usr/bin/env bash
# Boots the test/vm node (cgroup v2 unified, systemd as PID 1, AppArmor) in a
# QEMU TCG virtual machine and runs a suite in it:
#
#   test/vm/run.sh --suite smoke|full|selinux [--memory MB] [--timeout SECONDS] [--output DIR] [--keep]
#   test/vm/run.sh --shell [--selinux]  a root shell on the node's serial console (Ctrl-A X quits)
#
# --suite selinux (and --selinux) boot the SELinux variant of the node
# (test/vm/build-selinux.sh: the same node with Debian's reference policy,
# its container module and SELinux enforcing).
#
# The node (test/vm/build.sh) is built once and cached; each boot gets a
# copy-on-write overlay of it, so a run cannot spoil the next. The binaries
# are built here, on the host (cricketd, cricket-shim, crictl, the image
# registry and its stand-ins, critest, `go test -c` test binaries), staged
# with the suite scripts (test/vm/suites) on an ext4 "work" disk, and the
# node's cricket-vm-run unit runs /work/run.sh and powers off. The results
# come back from the work disk (debugfs, no mount) into --output (default
# _output/vm/<suite>): summary, run.log, console.log, journal.log, the
# suites' own reports. The VM has no network device: the tests' registry
# and pods live inside it, on its loopback and the bridges they make.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/test/vm
export PATH=/usr/local/go/bin:$PATH

SUITE=smoke
SHELL_MODE=0
SELINUX=0
MEMORY=${CRICKET_VM_MEMORY:-3072}
CPUS=${CRICKET_VM_CPUS:-2}
TIMEOUT=
OUTPUT=
KEEP=0
SUITE_ARGS=${CRICKET_VM_SUITE_ARGS:-}
while [ $# -gt 0 ]; do
	case $1 in
	--suite) SUITE=$2; shift 2 ;;
	--shell) SHELL_MODE=1; SUITE=shell; shift ;;
	--selinux) SELINUX=1; shift ;;
	--memory) MEMORY=$2; shift 2 ;;
	--cpus) CPUS=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--output) OUTPUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,22p' "$0"; exit 0 ;;
	*) echo "vm: unknown argument $1" >&2; exit 2 ;;
	esac
done
case $SUITE in
smoke) TIMEOUT=${TIMEOUT:-900} ;;
full) TIMEOUT=${TIMEOUT:-21600} ;;
selinux) TIMEOUT=${TIMEOUT:-5400}; SELINUX=1 ;;
shell) ;;
*) echo "vm: unknown suite $SUITE (smoke, full, selinux)" >&2; exit 2 ;;
esac
OUTPUT=${OUTPUT:-$REPO/_output/vm/$SUITE}

log() { printf 'vm: %s\n' "$*" >&2; }
die() { printf 'vm: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"

T0=$(date +%s)
# One build at a time: a second run waits for the first's image.
mkdir -p "${CRICKET_VM_CACHE:-/var/cache/cricket-test}"
BUILD=$HERE/build.sh
[ "$SELINUX" = 1 ] && BUILD=$HERE/build-selinux.sh
NODE=$(flock "${CRICKET_VM_CACHE:-/var/cache/cricket-test}/vm-build.lock" "$BUILD") || die "building the node failed"
log "node: $NODE (ready after $(($(date +%s) - T0))s)"

WORK=$(mktemp -d /tmp/cricket-vm-XXXXXX)
QEMU_PID=
cleanup() {
	local rc=$?
	set +e
	if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill -TERM "$QEMU_PID"
		sleep 2
		kill -KILL "$QEMU_PID" 2>/dev/null
		wait "$QEMU_PID" 2>/dev/null
	fi
	if [ "$KEEP" = 1 ]; then
		log "kept $WORK (overlay.qcow2, work.ext4)"
	else
		rm -rf --one-file-system "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- stage: everything the node runs, built here -----------------------------

STAGE=$WORK/stage
mkdir -p "$STAGE/bin" "$STAGE/deploy" "$STAGE/results"
tb=$(date +%s)
make -C "$REPO" --no-print-directory build >/dev/null || die "make build failed"
cp "$REPO/bin/cricketd" "$REPO/bin/cricket-shim" "$STAGE/bin/"
"$REPO/hack/deps.sh" >/dev/null || die "hack/deps.sh failed"
cp "$(command -v crictl)" "$STAGE/bin/"
(cd "$REPO" && go build -o "$STAGE/bin/images" ./test/images) || die "build test/images failed"
"$STAGE/bin/images" standins --out "$STAGE/standins" >/dev/null || die "compiling the image stand-ins failed"
cp -r "$REPO/deploy/." "$STAGE/deploy/"
cp -r "$HERE/suites" "$STAGE/suites"
if [ "$SUITE" = full ] && [ -f "$HERE/stage-full.sh" ]; then
	# shellcheck source=stage-full.sh
	. "$HERE/stage-full.sh"
fi
if [ "$SELINUX" = 1 ] && [ -f "$HERE/stage-selinux.sh" ]; then
	# shellcheck source=stage-selinux.sh
	. "$HERE/stage-selinux.sh"
fi
cat >"$STAGE/run.sh" <<RUN
#!/bin/bash
# Written by test/vm/run.sh: the suite this boot runs.
export CRICKET_VM_SUITE=$SUITE CRICKET_VM_SUITE_ARGS='$SUITE_ARGS'
exec /work/suites/$SUITE.sh
RUN
chmod +x "$STAGE/run.sh"
log "staged in $(($(date +%s) - tb))s: $(du -sh "$STAGE" | cut -f1)"

# The work disk: the staged tree plus room for the results.
size=$(( $(du -sm "$STAGE" | cut -f1) + 1024 ))
truncate -s "${size}M" "$WORK/work.ext4"
mkfs.ext4 -q -L cricket-work -d "$STAGE" "$WORK/work.ext4"
qemu-img create -q -f qcow2 -F qcow2 -b "$NODE/base.qcow2" "$WORK/overlay.qcow2"

QEMU=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp "$CPUS" -m "$MEMORY" -no-reboot
	-kernel "$NODE/vmlinuz" -initrd "$NODE/initrd.img"
	-drive "file=$WORK/overlay.qcow2,if=virtio,format=qcow2,cache=unsafe"
	-drive "file=$WORK/work.ext4,if=virtio,format=raw,cache=writeback"
	-nic none)
# no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer
# check can fail and panic the boot ("IO-APIC + timer doesn't work").
APPEND="root=/dev/vda rw console=ttyS0 panic=-1 systemd.show_status=auto no_timer_check"
# The SELinux node's kernel arguments (security=selinux selinux=1 enforcing=1).
[ "$SELINUX" = 1 ] && APPEND="$APPEND $(cat "$NODE/cmdline")"

if [ "$SHELL_MODE" = 1 ]; then
	log "booting the node (root on ttyS0; mount LABEL=cricket-work /work for the staged binaries; poweroff or Ctrl-A X to leave)"
	"${QEMU[@]}" -nographic -append "$APPEND"
	exit 0
fi

mkdir -p "$OUTPUT"
OUTPUT=$(cd "$OUTPUT" && pwd)
rm -rf "${OUTPUT:?}"/*
tq=$(date +%s)
"${QEMU[@]}" -display none -monitor none -serial "file:$OUTPUT/console.log" \
	-append "$APPEND cricket.run" </dev/null >"$OUTPUT/qemu.log" 2>&1 &
QEMU_PID=$!
log "booted qemu (pid $QEMU_PID, ${CPUS} vCPUs, ${MEMORY} MiB, TCG) for suite $SUITE; timeout ${TIMEOUT}s; console: $OUTPUT/console.log"
timed_out=0
while kill -0 "$QEMU_PID" 2>/dev/null; do
	if [ $(($(date +%s) - tq)) -ge "$TIMEOUT" ]; then
		log "suite $SUITE did not finish in ${TIMEOUT}s: stopping the VM"
		timed_out=1
		kill -TERM "$QEMU_PID" 2>/dev/null || true
		sleep 5
		kill -KILL "$QEMU_PID" 2>/dev/null || true
		break
	fi
	sleep 2
done
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=
vm_secs=$(($(date +%s) - tq))

# ---- results -------------------------------------------------------------
debugfs -R "rdump /results $OUTPUT" "$WORK/work.ext4" >/dev/null 2>&1 || true
if [ -d "$OUTPUT/results" ]; then
	cp -r "$OUTPUT/results/." "$OUTPUT/"
	rm -rf "$OUTPUT/results"
fi
echo "== test/vm suite $SUITE: VM ${vm_secs}s, total $(($(date +%s) - T0))s (output: $OUTPUT)"
if [ -f "$OUTPUT/summary" ]; then
	cat "$OUTPUT/summary"
else
	echo "no summary came back; the end of the console:"
	tail -n 40 "$OUTPUT/console.log" 2>/dev/null || true
fi
[ "$timed_out" = 0 ] || die "timed out"
rc=$(cat "$OUTPUT/rc" 2>/dev/null || echo 1)
[ "$rc" = 0 ] || die "suite $SUITE failed (rc $rc)"
log "suite $SUITE passed"
