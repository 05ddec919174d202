#!/bin/bash
# The bounded CI part of test/vm (make vm-smoke): on cgroup v2 with systemd
# as PID 1 and AppArmor on, cricketd as deploy/cricketd.service with the
# systemd cgroup driver; a pod whose container has CPU, memory and pids
# limits, checked in its v2 files under a systemd scope, and updated in
# place; a restart of the unit that keeps the pod; a container confined by
# a Localhost AppArmor profile that cannot write where the profile denies;
# and nothing left after removal.
#
# DRIVER=cgroupfs runs it with the cgroupfs driver (full.sh does both).
set -u
. /work/suites/lib.sh
DRIVER=${DRIVER:-systemd}

T0=$(date +%s)
node_facts
check "node: cgroup v2 unified" test "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs
check "node: systemd is PID 1" test "$(cat /proc/1/comm)" = systemd
check "node: AppArmor enabled" aa-enabled -q

start_registry /etc/cricket/certs.d || fail "registry" "the test registry did not start"
if ! install_cricketd "$DRIVER"; then
	fail "cricketd.service ($DRIVER driver)" "the unit did not serve: $(journalctl -u cricketd --no-pager | tail -n 5 | tr '\n' ' ')"
	finish
	exit
fi
pass "cricketd.service ($DRIVER driver) serves"
check "cricketd runs in cricketd.service" grep -qx '0::/system.slice/cricketd.service' "/proc/$(systemctl show -p MainPID --value cricketd)/cgroup"

IMG=registry.k8s.io/e2e-test-images/busybox:1.29-2
check "pull $IMG" crictl pull "$IMG"

W=$(mktemp -d)
PARENT=cricket_smoke.slice
[ "$DRIVER" = cgroupfs ] && PARENT=/cricket_smoke
cat >"$W/pod.json" <<JSON
{"metadata": {"name": "smoke", "namespace": "vm", "uid": "smoke-uid-1", "attempt": 0},
 "log_directory": "/var/log/pods/smoke", "linux": {"cgroup_parent": "$PARENT"}}
JSON
cat >"$W/limits.json" <<JSON
{"metadata": {"name": "limits"}, "image": {"image": "$IMG"}, "command": ["sleep", "3600"],
 "log_path": "limits.log",
 "linux": {"resources": {"cpu_period": 100000, "cpu_quota": 50000, "cpu_shares": 512,
   "memory_limit_in_bytes": 67108864, "unified": {"pids.max": "42"}}}}
JSON
cat >"$W/confined.json" <<JSON
{"metadata": {"name": "confined"}, "image": {"image": "$IMG"}, "command": ["sleep", "3600"],
 "log_path": "confined.log",
 "linux": {"security_context": {"apparmor": {"profile_type": 2, "localhost_ref": "cricket-vm-smoke"}}}}
JSON
# The Localhost profile: everything allowed but writing under /etc (audited).
cat >"$W/cricket-vm-smoke" <<'PROFILE'
#include <tunables/global>
profile cricket-vm-smoke flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>
  file,
  network,
  capability,
  signal,
  unix,
  ptrace,
  mount,
  umount,
  pivot_root,
  audit deny /etc/** w,
}
PROFILE

POD=$(crictl runp "$W/pod.json") && pass "run pod" || fail "run pod" "crictl runp failed"
LIM=$(crictl create "$POD" "$W/limits.json" "$W/pod.json") && crictl start "$LIM" >/dev/null &&
	pass "container with limits runs" || fail "container with limits runs" "create/start failed"

pid=$(crictl inspect -o go-template --template '{{.info.pid}}' "$LIM" 2>/dev/null)
cg=$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup" 2>/dev/null)
note "container pid $pid in cgroup $cg"
unit=$(basename "$cg")
if [ "$DRIVER" = systemd ]; then
	case $cg in
	/cricket_smoke.slice/cricket-"$LIM".scope) pass "container in a systemd scope of its pod's slice" ;;
	*) fail "container in a systemd scope of its pod's slice" "cgroup $cg" ;;
	esac
	check "systemd knows $unit" sh -c "systemctl is-active '$unit' | grep -qx active"
else
	case $cg in
	/cricket_smoke/*"$LIM"*) pass "container in a cgroup under its pod's cgroup_parent" ;;
	*) fail "container in a cgroup under its pod's cgroup_parent" "cgroup $cg" ;;
	esac
fi
C=/sys/fs/cgroup$cg
expect_file "cpu quota" "$C/cpu.max" "50000 100000"
# cpu_shares 512 -> weight 59: the conversion of opencontainers/cgroups
# (runc >= 1.3.2), which maps 2, 1024 and 262144 to 1, 100 and 10000.
expect_file "cpu shares as weight" "$C/cpu.weight" "59"
expect_file "memory limit" "$C/memory.max" "67108864"
expect_file "pids limit (unified key)" "$C/pids.max" "42"
if crictl update --memory 134217728 --cpu-quota 25000 "$LIM" >/dev/null; then
	expect_file "updated memory limit" "$C/memory.max" "134217728"
	expect_file "updated cpu quota" "$C/cpu.max" "25000 100000"
else
	fail "UpdateContainerResources" "crictl update failed"
fi
check "stats from cgroup v2" sh -c "crictl stats -o json '$LIM' | grep -q workingSetBytes"

# A restart of the unit keeps the pod (KillMode=process) and reconciles.
systemctl restart cricketd && wait_cricketd && pass "systemctl restart cricketd" || fail "systemctl restart cricketd" "did not come back"
check "container survives the restart" kill -0 "$pid"
check "container still Running after the restart" sh -c "crictl inspect -o go-template --template '{{.status.state}}' '$LIM' | grep -qx CONTAINER_RUNNING"
check "exec after the restart" crictl exec "$LIM" true

# AppArmor: Cricket's default profile for RuntimeDefault (and no profile),
# and a Localhost profile the node has loaded.
check "crictl info names the default profile" sh -c 'crictl info | grep -q "\"apparmorDefaultProfile\": *\"cricket-default\""'
lpid=$pid
check "no profile -> cricket-default" grep -q '^cricket-default (enforce)' "/proc/$lpid/attr/current"
check "load the Localhost profile" apparmor_parser -r "$W/cricket-vm-smoke"
cpid=
if CON=$(crictl create "$POD" "$W/confined.json" "$W/pod.json") && crictl start "$CON" >/dev/null; then
	pass "AppArmor-confined container runs"
	cpid=$(crictl inspect -o go-template --template '{{.info.pid}}' "$CON" 2>/dev/null)
else
	fail "AppArmor-confined container runs" "create/start failed"
fi
if [ -n "$cpid" ]; then
	check "confined by cricket-vm-smoke" grep -q '^cricket-vm-smoke (enforce)' "/proc/$cpid/attr/current"
	if out=$(crictl exec "$CON" sh -c 'echo x >/etc/denied' 2>&1); then
		fail "profile denies writing /etc" "the write succeeded"
	elif printf '%s' "$out" | grep -q 'Permission denied'; then
		pass "profile denies writing /etc (Permission denied)"
	else
		fail "profile denies writing /etc" "the write failed otherwise: $out"
	fi
	check "profile allows writing /tmp" crictl exec "$CON" sh -c 'echo x >/tmp/allowed'
	if dmesg | grep 'apparmor="DENIED"' | grep 'profile="cricket-vm-smoke"' | grep -q 'name="/etc/denied"'; then
		pass "the kernel logged the denial"
	else
		fail "the kernel logged the denial" "no apparmor=\"DENIED\" line for /etc/denied in dmesg"
	fi
fi
check "an unconfined-by-Localhost neighbour (cricket-default) may write /etc" crictl exec "$LIM" sh -c 'echo x >/etc/allowed'
sed -e 's/cricket-vm-smoke/cricket-vm-not-loaded/' -e 's/"confined"/"not-loaded"/' "$W/confined.json" >"$W/bad.json"
if out=$(crictl create "$POD" "$W/bad.json" "$W/pod.json" 2>&1); then
	fail "an unloaded profile is refused" "create succeeded"
elif printf '%s' "$out" | grep -q 'code = InvalidArgument'; then
	pass "an unloaded profile is refused (InvalidArgument)"
else
	fail "an unloaded profile is refused" "not InvalidArgument: $out"
fi

# Cleanup: nothing left.
crictl stopp "$POD" >/dev/null && crictl rmp "$POD" >/dev/null && pass "remove the pod" || fail "remove the pod" "stopp/rmp failed"
check "container cgroup gone" sh -c "! test -e '$C'"
if [ "$DRIVER" = systemd ]; then
	check "scope $unit gone" sh -c "! systemctl is-active -q '$unit'"
else
	check "pod cgroup /cricket_smoke (created for the pod) gone" sh -c "! test -e /sys/fs/cgroup/cricket_smoke"
fi
left=$(leftovers)
[ -z "$left" ] && pass "nothing left (scopes, cgroups, mounts, shims)" || fail "nothing left" "$left"
systemctl stop cricketd
apparmor_parser -R "$W/cricket-vm-smoke" >/dev/null 2>&1
rm -rf "$W"
note "smoke ($DRIVER driver) in the VM: $(($(date +%s) - T0))s"
finish
