#!/bin/bash
# make vm-test: every suite the node runs, one after the other, each bounded
# and counted in /work/results/summary:
#   smoke        smoke.sh with the systemd driver, then with cgroupfs
#   packages     the root tests of the packages that touch cgroups, the
#                runtime and the shim (tests/root-packages), on cgroup v2
#   integration  test/integration against real daemons
#   critest      critest on the cricket, runc and crun handlers, --strict-skips,
#                held to the vm counts of test/critest/expected.txt
#   fault        test/fault, small (VM_FAULT_LIFECYCLES, VM_FAULT_INFLIGHT), with
#                the cgroupfs driver, then the systemd one
#   kubelet      test/kubelet with cgroupDriver systemd and the default failCgroupV1
# $CRICKET_VM_SUITE_ARGS picks and orders them (default: all, as above);
# "integration:REGEX" runs only the tests matching REGEX; "critest:H,H/N/FOCUS"
# only handlers H (default cricket, runc and crun) with N critest parallel
# nodes (default 1), and only the specs matching FOCUS (a run with a focus is
# not held to the counts); "fault:DRIVER[,DRIVER]" only those cgroup drivers;
# "kubelet:REGEX" only the kubelet e2e tests matching REGEX.
set -u
. /work/suites/lib.sh

T0=$(date +%s)
node_facts
STEPS=${CRICKET_VM_SUITE_ARGS:-"smoke packages integration critest fault kubelet"}
note "steps: $STEPS"
export CRICKET_STANDINS_BIN=/work/standins
# The node's own address: the VM has no network device (-nic none), and a
# node has one, which hostPort mappings answer on (TestNetworkHostPort).
# A veth pair (veth is loaded at boot; the dummy driver may not be) with a
# private address stands for it.
if ip link add vmnic0 type veth peer name vmnic0p 2>/dev/null; then
	ip addr add 192.168.250.2/24 dev vmnic0 && ip link set vmnic0p up && ip link set vmnic0 up
fi
note "node address: $(ip -4 -o addr show dev vmnic0 2>&1 | awk '{print $4}')"
install -m 0755 /work/bin/cricketd /work/bin/cricket-shim /work/bin/crictl /usr/local/bin/
# Debian's crun built with CRIU (test/vm/crun-criu.sh), when it was staged:
# the same crun release, so that the crun handler can checkpoint.
if [ -x /work/crun/crun ]; then
	install -m 0755 /work/crun/crun /usr/bin/crun
	note "crun: Debian's, rebuilt with CRIU: $(crun --version | tail -n 1)"
else
	note "crun: Debian's ($(crun --version | tail -n 1)); no CRIU build was staged"
fi
if ! command -v sudo >/dev/null && ls /work/debs/*.deb >/dev/null 2>&1; then
	dpkg -i /work/debs/*.deb >"$R/debs.log" 2>&1 || fail "install /work/debs" "$(tail -n 3 "$R/debs.log" | tr '\n' ' ')"
fi

# gotest NAME PKGDIR TIMEOUT ARGS...: a `go test -c` binary in its package
# directory, as root, with the counts of its (sub)tests.
gotest() {
	local name=$1 dir=$2 t=$3 bin rc=0 p f s
	shift 3
	bin=/work/tests/$(echo "$dir" | tr / _).test
	local log
	log=$R/$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' _)
	say "go test $dir $*"
	local t0
	t0=$(date +%s)
	# The log in full; each top-level test's result also on the console (and
	# run.log), so that a long step shows its progress while it runs.
	{
		(cd "/work/repo/$dir" && env CRICKET_ROOT_TESTS=1 CRICKETD_BIN=/usr/local/bin/cricketd \
			timeout --kill-after=60 "$t" "$bin" -test.v -test.count=1 -test.timeout="$t"s "$@") 2>&1
		echo $? >"$log.rc"
	} | tee "$log.log" | grep --line-buffered -E '^--- (PASS|FAIL|SKIP)|^panic:' |
		while IFS= read -r l; do printf '     %s %s\n' "$(date -u +%T)" "$l"; done
	rc=$(cat "$log.rc" 2>/dev/null || echo 1)
	p=$(grep -c -- '--- PASS' "$log.log")
	f=$(grep -c -- '--- FAIL' "$log.log")
	s=$(grep -c -- '--- SKIP' "$log.log")
	grep -A2 -- '--- SKIP' "$log.log" >"$log.skips" || true
	if [ "$rc" = 0 ]; then
		pass "$name: $p passed, $f failed, $s skipped ($(($(date +%s) - t0))s)"
	else
		fail "$name" "rc $rc: $p passed, $f failed, $s skipped ($(($(date +%s) - t0))s); failed: $(grep -- '--- FAIL' "$log.log" | awk '{print $3}' | head -n 15 | tr '\n' ' ')"
	fi
}

step_smoke() {
	local d
	for d in systemd cgroupfs; do
		say "smoke ($d driver)"
		CRICKET_VM_NESTED=1 CRICKET_VM_SUITE="smoke-$d" DRIVER=$d timeout 1800 /work/suites/smoke.sh >"$R/smoke-$d.log" 2>&1 ||
			FAILS=$((FAILS + 1))
	done
}

step_packages() {
	local pkg
	for pkg in $(cat /work/tests/root-packages); do
		gotest "root-test $pkg" "$pkg" 3600
	done
}

step_integration() {
	local run=${1:-}
	if [ -n "$run" ]; then
		gotest "integration ($run)" test/integration 14400 -test.run "$run"
	else
		gotest integration test/integration 21600
	fi
}

step_critest() {
	local rc=0 t0 arg=${1:-} handlers="cricket runc crun" parallel=1 focus=()
	case $arg in
	*/*/*) focus=(--focus "${arg#*/*/}"); arg=${arg%%/*}/$(echo "$arg" | cut -d/ -f2) ;;
	esac
	case $arg in
	*/*) parallel=${arg#*/}; arg=${arg%/*} ;;
	esac
	[ -z "$arg" ] || handlers=$(echo "$arg" | tr , ' ')
	t0=$(date +%s)
	say "critest ($handlers, $parallel parallel nodes)"
	(cd /work/repo && CRITEST_CONTEXT=vm timeout --kill-after=120 21600 test/critest/run.sh --prebuilt /work/critest \
		--cricketd /usr/local/bin/cricketd --handlers "$handlers" --parallel "$parallel" "${focus[@]}" --strict-skips \
		--timeout 3h --output "$R/critest") >"$R/critest.log" 2>&1 || rc=$?
	local line
	grep '^critest [a-z]*: ' "$R/critest.log" | sort -u | while IFS= read -r line; do note "$line"; done
	if [ "$rc" = 0 ]; then
		pass "critest ($(($(date +%s) - t0))s)"
	else
		fail "critest" "rc $rc ($(($(date +%s) - t0))s); $(tail -n 3 "$R/critest.log" | tr '\n' ' ')"
	fi
}

step_fault() {
	local d
	# Each cgroup driver in turn: its leak checks look in the v2 tree where
	# that driver puts pods (/cricket/pod-<ID>, or cricket.slice's scopes).
	for d in $(echo "${1:-cgroupfs,systemd}" | tr , ' '); do
		CRICKET_FAULT_CGROUP_DRIVER=$d CRICKET_FAULT_LIFECYCLES=${VM_FAULT_LIFECYCLES:-40} CRICKET_FAULT_INFLIGHT=${VM_FAULT_INFLIGHT:-6} \
			gotest "fault ($d driver)" test/fault 7200 -test.run '^TestFault$'
		# The daemon's and the shims' logs, which the test leaves in /tmp.
		mkdir -p "$R/fault-$d"
		mv /tmp/cricket-fault-* "$R/fault-$d/" 2>/dev/null || true
	done
}

step_kubelet() {
	local run=${1:-}
	# Probes get 10 s: under TCG an exec probe's runc exec alone takes more
	# than the default 1 s.
	KUBELET_BIN=/work/kubelet/kubelet KUBELET_CGROUP_DRIVER=systemd KUBELET_E2E_OUTPUT=$R/kubelet-e2e KUBELET_E2E_PROBE_TIMEOUT=10 \
		CHECKPOINTCTL_BIN=/work/kubelet/checkpointctl \
		gotest "kubelet-e2e${run:+ ($run)}" test/kubelet 7200 ${run:+-test.run "$run"}
}

for step in $STEPS; do
	name=${step%%:*}
	arg=
	[ "$name" != "$step" ] && arg=${step#*:}
	if declare -F "step_$name" >/dev/null; then
		"step_$name" ${arg:+"$arg"}
	else
		fail "step $step" "no such step"
	fi
done
note "full run in the VM: $(($(date +%s) - T0))s"
finish
