#!/bin/bash
# make vm-selinux: Cricket on a node with SELinux enforcing (the node of
# test/vm/build-selinux.sh: Debian's reference policy with its container
# module and test/vm/selinux-policy). Checked in order:
#   node         SELinux enabled and enforcing, the container module loaded
#   cricketd     cricketd.service with the cgroupfs driver (the systemd
#                driver's D-Bus calls to systemd are denied to the engine's
#                domain by this policy), its binaries labelled
#                container_engine_exec_t: it runs in container_engine_t
#   labels       the Go tests of test/vm/selinux against it: process and
#                mount labels from the CRI's SELinuxOption, custom levels,
#                volumes relabelled when asked
#   critest      critest's SELinux specs on the cricket handler (critest
#                registers them only on a host with SELinux enabled), and its
#                user-namespace specs (a user-namespace pod's init, at the
#                pod's label, runs from the labelled copy through its fd)
#   systemd_driver  not a check: what the systemd cgroup driver meets under
#                this policy (a pod is run with it; its result and the
#                denials meanwhile are noted)
#   denials      the AVC denials the kernel logged (in avc.log), and
#                SELinux still enforcing at the end
# The test registry listens on 127.0.0.1:80: the engine's domain may
# connect to the HTTP ports only.
set -u
. /work/suites/lib.sh
export CRICKET_VM_REGISTRY_ADDR=127.0.0.1:80 CRICKET_BIN_SELINUX_TYPE=container_engine_exec_t
export CRICKET_STANDINS_BIN=/work/standins
STEPS=${CRICKET_VM_SUITE_ARGS:-"labels critest systemd_driver"}

T0=$(date +%s)
node_facts
note "kernel command line: $(cat /proc/cmdline)"
note "SELinux: $(getenforce 2>&1); policy $(sestatus 2>/dev/null | awk -F': *' '/Loaded policy name/ {print $2}') ($(dpkg-query -W -f='${Version}' selinux-policy-default 2>/dev/null)); modules: $(semodule -l 2>/dev/null | grep -E '^(container|cricket_engine)' | tr '\n' ' ')"
check "node: SELinux enforcing at the start" test "$(getenforce)" = Enforcing
check "node: the container module is loaded" sh -c 'semodule -l | grep -q "^container"'
check "node: the cricket_engine module is loaded" sh -c 'semodule -l | grep -q "^cricket_engine"'
check "node: the CNI plugins are bin_t" sh -c 'ls -Z /usr/lib/cni/bridge | grep -q ":bin_t:"'

start_registry /etc/cricket/certs.d || fail "registry" "the test registry did not start on $CRICKET_VM_REGISTRY_ADDR"
if ! install_cricketd cgroupfs; then
	fail "cricketd.service (cgroupfs driver)" "the unit did not serve: $(journalctl -u cricketd --no-pager | tail -n 5 | tr '\n' ' ')"
	journalctl -k --no-pager | grep 'avc:' >"$R/avc.log"
	finish
	exit
fi
pass "cricketd.service (cgroupfs driver) serves"
dpid=$(systemctl show -p MainPID --value cricketd)
note "cricketd: $(ls -Z /usr/local/bin/cricketd | cut -d' ' -f1); runs as $(cat "/proc/$dpid/attr/current" | tr -d '\0')"
check "cricketd runs in container_engine_t" grep -q ':container_engine_t:' "/proc/$dpid/attr/current"
IMG=registry.k8s.io/e2e-test-images/busybox:1.29-2
check "pull $IMG (the engine connects to the registry on port 80)" crictl pull "$IMG"

step_labels() {
	local t0 log=$R/selinux-test.log rc=0 p f s
	t0=$(date +%s)
	say "go test ./test/vm/selinux"
	(cd /work/repo/test/vm/selinux && env CRICKET_ROOT_TESTS=1 CRICKET_SELINUX_ENDPOINT=unix:///run/cricket/cricket.sock \
		CRICKET_SELINUX_IMAGE="$IMG" timeout --kill-after=30 1200 /work/tests/test_vm_selinux.test -test.v -test.count=1 -test.timeout=1200s) >"$log" 2>&1 || rc=$?
	grep -E '^(=== RUN|--- |\s+---)' "$log" | grep -E -- '--- ' | while IFS= read -r l; do note "$l"; done
	p=$(grep -c -- '--- PASS' "$log")
	f=$(grep -c -- '--- FAIL' "$log")
	s=$(grep -c -- '--- SKIP' "$log")
	if [ "$rc" = 0 ] && [ "$f" = 0 ] && [ "$p" -gt 0 ]; then
		pass "test/vm/selinux: $p passed, $f failed, $s skipped ($(($(date +%s) - t0))s)"
	else
		fail "test/vm/selinux" "rc $rc: $p passed, $f failed, $s skipped ($(($(date +%s) - t0))s); $(grep -- '--- FAIL' "$log" | head -n 5 | tr '\n' ' ')"
	fi
}

step_critest() {
	local t0 rc=0 line
	t0=$(date +%s)
	# critest starts its own cricketd and registry (on port 80 too).
	systemctl stop cricketd
	stop_registry
	say "critest --focus SELinux --focus UserNamespaces (cricket handler)"
	# Its daemon runs in the engine's domain (runcon), with its root and
	# state in a dir labelled as the engine's (container_var_lib_t), which
	# what the unconfined harness makes there inherits.
	mkdir -p /var/lib/cricket-critest
	chcon -t container_var_lib_t /var/lib/cricket-critest
	# Its output too (the daemon writes its log there; the work disk is
	# not labelled), copied to the results afterwards.
	local out=/var/lib/cricket-critest/output
	(cd /work/repo && CRITEST_TMPDIR=/var/lib/cricket-critest CRITEST_REGISTRY_ADDR=127.0.0.1:80 CRITEST_CRICKETD_CONTEXT=system_u:system_r:container_engine_t:s0 CRITEST_CONTEXT=vm timeout --kill-after=60 3600 test/critest/run.sh \
		--prebuilt /work/critest --cricketd /usr/local/bin/cricketd --handlers cricket --focus SELinux --focus UserNamespaces \
		--timeout 50m --output "$out") >"$R/critest.log" 2>&1 || rc=$?
	mkdir -p "$R/critest"
	cp -r "$out/." "$R/critest/" 2>/dev/null
	grep '^critest [a-z]*: ' "$R/critest.log" | sort -u | while IFS= read -r line; do note "$line"; done
	grep -h -E '^\s*\[(FAIL|PASSED|SKIPPED)\]|^• \[FAILED\]' "$R/critest/"*/critest.log 2>/dev/null | head -n 20 | while IFS= read -r line; do note "$line"; done
	if [ "$rc" = 0 ]; then
		pass "critest SELinux and user-namespace specs ($(($(date +%s) - t0))s)"
	else
		fail "critest SELinux and user-namespace specs" "rc $rc ($(($(date +%s) - t0))s); $(tail -n 3 "$R/critest.log" | tr '\n' ' ')"
	fi
}

step_systemd_driver() {
	local n0 out w
	# The whole journal: dbus-daemon reports its own denials (USER_AVC).
	n0=$(journalctl --no-pager | grep -c 'avc:  denied')
	say "the systemd cgroup driver (informational)"
	if ! install_cricketd systemd; then
		note "systemd driver: cricketd.service did not serve: $(journalctl -u cricketd --no-pager | tail -n 3 | tr '\n' ' ')"
	else
		w=$(mktemp -d)
		printf '{"metadata": {"name": "sd", "namespace": "selinux", "uid": "sd-1"}, "linux": {"cgroup_parent": "cricket_selinux.slice"}}\n' >"$w/pod.json"
		printf '{"metadata": {"name": "c"}, "image": {"image": "%s"}, "command": ["sleep", "600"], "log_path": "c.log"}\n' "$IMG" >"$w/c.json"
		if out=$(crictl runp "$w/pod.json" 2>&1); then
			note "systemd driver: RunPodSandbox succeeded"
			local pod=$out cid pid
			if cid=$(crictl create "$pod" "$w/c.json" "$w/pod.json" 2>&1) && out=$(crictl start "$cid" 2>&1); then
				pid=$(crictl inspect -o go-template --template '{{.info.pid}}' "$cid" 2>/dev/null)
				note "systemd driver: a container started: $(tr -d '\0' <"/proc/$pid/attr/current" 2>&1), cgroup $(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup" 2>&1)"
			else
				note "systemd driver: the container did not start: $(printf '%s %s' "$cid" "$out" | tail -n 1 | cut -c1-300)"
			fi
			remove_all_pods >/dev/null 2>&1
		else
			note "systemd driver: RunPodSandbox failed: $(printf '%s' "$out" | tail -n 1 | cut -c1-300)"
		fi
		rm -rf "$w"
	fi
	note "systemd driver: the denials meanwhile:"
	journalctl --no-pager | grep 'avc:  denied' | tail -n +$((n0 + 1)) |
		sed -E 's/.*\{ ([^}]*) \}.*scontext=[^:]*:[^:]*:([^:]*):[^ ]* tcontext=[^:]*:[^:]*:([^:]*):[^ ]* tclass=([a-z_0-9]*).*/\2 -> \3:\4 { \1}/' |
		sort | uniq -c | sort -rn | head -n 10 | while IFS= read -r line; do note "  $line"; done
	systemctl stop cricketd
}

for step in $STEPS; do
	if declare -F "step_$step" >/dev/null; then
		"step_$step"
	else
		fail "step $step" "no such step"
	fi
done

remove_all_pods >/dev/null 2>&1 || true
systemctl stop cricketd 2>/dev/null
journalctl -k --no-pager | grep -E 'avc:|SELINUX_ERR|type=1401' >"$R/avc.log"
note "SELinux errors (invalid contexts): $(grep -c 'type=1401' "$R/avc.log")"
note "AVC denials logged: $(grep -c 'avc:  denied' "$R/avc.log") (avc.log); by source, target and class:"
grep -o 'avc:  denied  { [^}]* } .*' "$R/avc.log" | sed -E 's/.*\{ ([^}]*) \}.*scontext=[^:]*:[^:]*:([^:]*):[^ ]* tcontext=[^:]*:[^:]*:([^:]*):[^ ]* tclass=([a-z_]*).*/\2 -> \3:\4 { \1}/' |
	sort | uniq -c | sort -rn | head -n 30 | while IFS= read -r line; do note "$line"; done
check "node: SELinux still enforcing at the end" test "$(getenforce)" = Enforcing
note "selinux suite in the VM: $(($(date +%s) - T0))s"
finish
