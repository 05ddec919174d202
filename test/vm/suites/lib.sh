#!/bin/bash
# Helpers the suites share inside the test/vm node. The work disk is /work:
# /work/bin (cricketd, cricket-shim, crictl, images), /work/standins,
# /work/deploy (the repository's deploy/), /work/results (comes back to the
# host). Each check appends "PASS name" or "FAIL name: why" to
# /work/results/summary; finish writes the exit code to /work/results/rc.

R=/work/results
SUMMARY=$R/summary
FAILS=0
REGISTRY_PID=
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p "$R"
# A suite run by another (full.sh runs smoke.sh) adds to its summary.
[ -n "${CRICKET_VM_NESTED:-}" ] || : >"$SUMMARY"

say() { printf '== %s %s\n' "$(date -u +%T)" "$*"; }
pass() { printf 'PASS %s\n' "$1" | tee -a "$SUMMARY"; }
fail() {
	printf 'FAIL %s: %s\n' "$1" "$2" | tee -a "$SUMMARY"
	FAILS=$((FAILS + 1))
}
note() { printf '     %s\n' "$*" | tee -a "$SUMMARY"; }

# check NAME CMD...: PASS when CMD succeeds, FAIL with its output otherwise.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(printf '%s' "$out" | tail -n 5 | tr '\n' ' ')"
	fi
}

# expect_file NAME FILE WANT: FILE's content is WANT.
expect_file() {
	local got
	got=$(cat "$2" 2>&1) || true
	if [ "$got" = "$3" ]; then
		pass "$1 ($2 = $3)"
	else
		fail "$1" "$2 is '$got', want '$3'"
	fi
}

# timed NAME CMD...: runs CMD, records its wall time in the summary.
timed() {
	local name=$1 t0 rc=0
	shift
	t0=$(date +%s)
	"$@" || rc=$?
	note "$name: $(($(date +%s) - t0))s, rc $rc"
	return "$rc"
}

# finish: the suite's result line and exit code (also in $R/rc unless nested).
finish() {
	local rc=0
	stop_registry
	if [ "$FAILS" = 0 ]; then
		echo "result ${CRICKET_VM_SUITE:-}: all checks passed" >>"$SUMMARY"
	else
		echo "result ${CRICKET_VM_SUITE:-}: $FAILS failed" >>"$SUMMARY"
		rc=1
	fi
	[ -n "${CRICKET_VM_NESTED:-}" ] || echo "$rc" >"$R/rc"
	sync
	return "$rc"
}

node_facts() {
	note "kernel $(uname -r); $(nproc) CPUs; $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo)"
	note "cgroup: $(stat -fc %T /sys/fs/cgroup) controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null); root subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null)"
	note "PID 1: $(cat /proc/1/comm); apparmor: $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || echo absent)"
	note "runc $(runc --version | awk 'NR==1 {print $3}'), crun $(crun --version | awk 'NR==1 {print $3}')"
}

# start_registry HOSTS_DIR: the test images on 127.0.0.1 with hosts.toml
# mirrors for their upstream registries in HOSTS_DIR; on a free port, or
# on $CRICKET_VM_REGISTRY_ADDR (the SELinux suite: the engine's domain may
# connect to the HTTP ports only).
start_registry() {
	local hosts=$1 i
	mkdir -p "$hosts"
	CRICKET_STANDINS_BIN=/work/standins /work/bin/images serve --addr "${CRICKET_VM_REGISTRY_ADDR:-127.0.0.1:0}" --hosts-dir "$hosts" >"$R/registry.log" 2>&1 &
	REGISTRY_PID=$!
	for i in $(seq 1 600); do
		grep -q '^serving ' "$R/registry.log" && return 0
		kill -0 "$REGISTRY_PID" 2>/dev/null || break
		sleep 0.5
	done
	cat "$R/registry.log"
	return 1
}

stop_registry() {
	[ -n "$REGISTRY_PID" ] || return 0
	kill "$REGISTRY_PID" 2>/dev/null
	wait "$REGISTRY_PID" 2>/dev/null
	REGISTRY_PID=
}

# install_bins: cricketd and cricket-shim in /usr/local/bin, with the
# SELinux type $CRICKET_BIN_SELINUX_TYPE when it is set (the SELinux
# suite: container_engine_exec_t, the engine's entrypoint); and crictl.
install_bins() {
	install -m 0755 /work/bin/cricketd /work/bin/cricket-shim /usr/local/bin/
	if [ -n "${CRICKET_BIN_SELINUX_TYPE:-}" ]; then
		chcon -t "$CRICKET_BIN_SELINUX_TYPE" /usr/local/bin/cricketd /usr/local/bin/cricket-shim || return 1
	fi
	install -m 0755 /work/bin/crictl /usr/local/bin/
}

# install_cricketd DRIVER [EXTRA_TOML]: cricketd as deploy/cricketd.service
# with runtime.cgroup_driver = DRIVER, the test registry's mirrors, started.
install_cricketd() {
	local driver=$1 extra=${2:-}
	install_bins || return 1
	install -m 0644 /work/deploy/cricketd.service /etc/systemd/system/cricketd.service
	install -m 0644 /work/deploy/crictl.yaml /etc/crictl.yaml
	mkdir -p /etc/cricket
	printf 'version = 1\n\n[runtime]\ncgroup_driver = "%s"\n%s\n' "$driver" "$extra" >/etc/cricket/cricket.toml
	systemctl daemon-reload
	systemctl restart cricketd
	wait_cricketd
}

wait_cricketd() {
	local i
	for i in $(seq 1 240); do
		crictl --timeout 5s info >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	systemctl status cricketd --no-pager | tail -n 20
	return 1
}

# stop_cricketd: stops the unit and removes what it left (it keeps pods
# across restarts, so remove every pod first).
remove_all_pods() {
	local p
	for p in $(crictl pods -q 2>/dev/null); do
		crictl stopp "$p" >/dev/null 2>&1
		crictl rmp -f "$p" >/dev/null 2>&1
	done
	[ -z "$(crictl pods -q 2>/dev/null)" ]
}

# leftovers: what a removed pod must not leave (scopes, cgroups, mounts, shims).
leftovers() {
	local out=""
	out+=$(systemctl list-units --all --no-legend 'cricket-*.scope' 2>/dev/null | grep -v ' inactive ' || true)
	out+=$(find /sys/fs/cgroup -mindepth 1 -type d \( -name 'cricket-*.scope' -o -name 'pod-*' \) 2>/dev/null || true)
	out+=$(grep -E ' /run/cricket/| /var/lib/cricket/' /proc/self/mountinfo | grep -v -E ' /var/lib/cricket ' || true)
	out+=$(pgrep -a cricket-shim || true)
	printf '%s' "$out"
}
