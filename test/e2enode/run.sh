#!/usr/bin/env bash
# Kubernetes' node end-to-end suite (k8s.io/kubernetes/test/e2e_node, v1.37)
# against one container runtime on this machine, in the mode where the suite
# starts its own etcd and kube-apiserver (in process) and its own kubelet.
# See README.md.
#
#   test/e2enode/run.sh --runtime cricket|containerd [--cricketd BIN]
#       [--focus RE | --focus-file FILE] [--skip RE] [--procs N] [--out DIR] [--timeout DUR]
#
# Root. Everything is private to the run and removed at the end: a network
# namespace of its own (the suite's API server, kubelet and registry listen
# on its loopback, so runs of two runtimes can go at once and the host's
# ports and iptables are never touched), the image registry on its
# 127.0.0.1, a CNI bridge on 10.236.0.0/24, the runtime's root and state,
# the kubelet's root dir, its cgroup root /e2enode-<id>.
set -euo pipefail
args=("$@")

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export PATH=/usr/local/go/bin:$PATH

runtime=cricket
cricketd=$REPO/bin/cricketd
focus='\[NodeConformance\]'
# The conformance job's own skips: [Serial] and [Disruptive] specs restart
# the kubelet or change the node; [Flaky] and [Slow] are not conformance.
skip='\[Flaky\]|\[Slow\]|\[Serial\]|\[Disruptive\]'
procs=4
out=$REPO/_output/e2enode
timeout=3h
containerd_version=v2.4.2
focus_file=
while [ $# -gt 0 ]; do
	case $1 in
	--runtime) runtime=$2; shift 2 ;;
	--cricketd) cricketd=$2; shift 2 ;;
	--focus) focus=$2; shift 2 ;;
	# One regular expression a line (smoke.txt); the run then fails if a
	# line selected no spec that ran (test/internal/junitfocus).
	--focus-file)
		focus_file=$(realpath "$2")
		focus=$(go run -C "$REPO" ./test/internal/junitfocus -join -file "$focus_file") || exit 2
		shift 2
		;;
	--skip) skip=$2; shift 2 ;;
	--procs) procs=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
case $runtime in cricket | containerd) ;; *) echo "run.sh: --runtime cricket or containerd" >&2; exit 2 ;; esac
out=$out/$runtime
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root" >&2; exit 1; }
for b in /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback /usr/lib/cni/portmap; do
	[ -x "$b" ] || { echo "run.sh: $b missing (apt-get install containernetworking-plugins)" >&2; exit 1; }
done

log() { echo "e2enode: $*" >&2; }
began=$(date +%s)

# The binaries, built once (test/kubelet/build.sh caches them).
# Inside the run's network namespace (below) they come from the outer run.
if [ -n "${E2ENODE_BINS:-}" ]; then
	read -r -a bins <<<"$E2ENODE_BINS"
else
	mapfile -t bins < <("$REPO/test/kubelet/build.sh" kubelet e2e_node.test agnhost ginkgo)
	if [ "$runtime" = containerd ]; then
		mapfile -t -O 4 bins < <(cd "$REPO" && go run ./test/bench/cri -install-containerd -containerd-version "$containerd_version")
	fi
fi
kubelet=${bins[0]} e2e_node=${bins[1]} agnhost=${bins[2]} ginkgo=${bins[3]}
if [ "$runtime" = containerd ]; then
	ctrd_bin=${bins[4]} runc=${bins[5]}
fi
crictl=$(command -v crictl || ls /var/cache/cricket-test/cri-tools-*/crictl 2>/dev/null | head -1 || true)
log "binaries ready after $(($(date +%s) - began))s"

# The run goes on in a network namespace of its own, entered once the
# binaries are built (the builds may need the module proxy): a loopback and
# an "uplink" (one end of a veth pair whose other end is in the namespace
# too: no module for dummy links here) holding the node's address and the
# default route, from which the kubelet takes its node IP as on a real node.
# nsenter, not `ip netns exec`: that mounts a sysfs of the namespace over
# /sys and so hides the cgroup file systems.
if [ -z "${E2ENODE_NETNS:-}" ]; then
	images_bin=$(mktemp /tmp/e2en-images-XXXXXX)
	(cd "$REPO" && go build -o "$images_bin" ./test/images)
	glibc_dns=$("$HERE/glibc-dns.sh")
	# Upstream busybox for the images (busybox.sh says why not Debian's).
	busybox=$("$HERE/busybox.sh")
	ns=e2en-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
	ip netns add "$ns"
	# shellcheck disable=SC2064 # expanded now, on purpose
	trap "ip netns pids $ns | xargs -r kill -9 2>/dev/null; ip netns del $ns; rm -f $images_bin" EXIT
	trap 'exit 130' INT TERM
	ip -n "$ns" link set lo up
	ip -n "$ns" link add uplink0 type veth peer name uplink1
	ip -n "$ns" addr add 10.237.0.2/24 dev uplink0
	ip -n "$ns" link set uplink1 up
	ip -n "$ns" link set uplink0 up
	ip -n "$ns" route add default via 10.237.0.1 dev uplink0 onlink
	# The host's name servers are out of reach: say so at once, or every
	# lookup (the kubelet's of its node name first) waits out its timeout.
	awk '$1 == "nameserver" && $2 ~ /^[0-9.]+$/ {print $2}' /etc/resolv.conf | while read -r a; do
		ip -n "$ns" route add unreachable "$a/32"
	done
	rc=0
	E2ENODE_NETNS=$ns E2ENODE_IMAGES=$images_bin E2ENODE_GLIBC_DNS=$glibc_dns E2ENODE_BUSYBOX=$busybox E2ENODE_BINS="${bins[*]}" nsenter --net="/run/netns/$ns" -- "$0" "${args[@]}" || rc=$?
	exit $rc
fi

id=$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
W=$(mktemp -d /tmp/e2en-XXXX)
bridge=e2en$id
cgroot=e2enode-$id
node=e2enode-$id
mkdir -p "$W"/{certs.d,net.d,ipam,rt,kubelet,pod-logs,container-logs,sysctl,report} "$out"
# The suite writes its kubeconfig and kubelet config beside its binary and
# finds the kubelet there: both are linked (or copied) into the run's dir.
mkdir -p "$W/bin"
for b in "$e2e_node" "$kubelet"; do ln "$b" "$W/bin/" 2>/dev/null || cp "$b" "$W/bin/"; done
e2e_node=$W/bin/$(basename "$e2e_node")
pids=()

cleanup() {
	local rc=$?
	set +e
	log "cleaning up $W"
	# Pods the suite left (killed mid-run): removed through the CRI while
	# the runtime still runs.
	if [ -n "${socket:-}" ] && [ -S "$socket" ] && [ -n "${crictl:-}" ]; then
		timeout 120 "$crictl" --runtime-endpoint "unix://$socket" rmp -fa >/dev/null 2>&1
	fi
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[$i]}" 2>/dev/null
		for _ in $(seq 60); do kill -0 "${pids[$i]}" 2>/dev/null || break; sleep 0.5; done
		kill -9 "${pids[$i]}" 2>/dev/null
	done
	# Whatever the kubelet left running (a suite killed mid-run): the
	# runtime's own processes carry the run's marker.
	for p in $(grep -l "E2ENODE_RUN=$id" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do kill -9 "$p" 2>/dev/null; done
	sleep 1
	grep -F " $W/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	grep -F " /run/containerd/" /proc/self/mountinfo | grep -F "$id" | awk '{print $5}' | while read -r m; do umount -l "$m"; done
	ip link del "$bridge" 2>/dev/null
	for c in $(awk '$9 ~ /^cgroup2?$/ {print $5}' /proc/self/mountinfo); do
		c=$c/$cgroot
		[ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	[ -n "${ipt_before:-}" ] && restore_iptables
	[ -n "${fwd_before:-}" ] && sysctl -qw net.ipv4.ip_forward="$fwd_before"
	cp -a "$W"/*.log "$W/report" "$out/" 2>/dev/null
	rm -rf "$W"
	[ -n "${made_varlibkubelet:-}" ] && rmdir /var/lib/kubelet 2>/dev/null
	log "done in $(($(date +%s) - began))s (exit $rc)"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# iptables: the CNI bridge is set up without masquerade and without
# portmap, the runtimes add no rules; any chain the run leaves is removed.
ipt_before=$(iptables-save | awk '/^:/ {print $1}' | sort)
restore_iptables() {
	local now
	now=$(iptables-save | awk '/^:/ {print $1}' | sort)
	comm -13 <(echo "$ipt_before") <(echo "$now") | sed 's/^://' | while read -r chain; do
		for t in filter nat mangle; do
			iptables -t "$t" -S | grep -E -- "-j $chain( |\$)" | sed 's/^-A/-D/' | while read -r rule; do
				eval "iptables -t $t $rule"
			done
			iptables -t "$t" -F "$chain" 2>/dev/null && iptables -t "$t" -X "$chain" 2>/dev/null
		done
	done
}
fwd_before=$(sysctl -n net.ipv4.ip_forward)

# The image registry.
cp "$E2ENODE_IMAGES" "$W/images"
"$W/images" serve --addr 127.0.0.1:0 --hosts-dir "$W/certs.d" --agnhost "$agnhost" --glibc-dns-rootfs "$E2ENODE_GLIBC_DNS" --busybox "$E2ENODE_BUSYBOX" >"$W/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do grep -q '^serving' "$W/registry.log" && break; kill -0 "${pids[-1]}" || { cat "$W/registry.log"; exit 1; }; sleep 0.5; done
grep -q '^serving' "$W/registry.log" || { log "registry did not start"; exit 1; }
log "registry: $(grep -A3 'upstream host' "$W/registry.log" | tail -n +2 | tr '\n' ' ')"

# The pod network: a bridge of the run's own on a free /24.
subnet=
for n in $(seq 0 255); do
	if ! grep -q "10\.236\.$n\." <<<"$(ip -4 route show table all; ip -4 addr)"; then
		subnet=10.236.$n.0/24
		break
	fi
done
[ -n "$subnet" ] || { log "no free 10.236.N.0/24"; exit 1; }
cat >"$W/net.d/10-e2enode.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "e2enode",
  "plugins": [
    {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$subnet"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$W/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

# The mount point of the suite's private /var/lib/kubelet (suite.sh); made
# when the host has none, and removed at the end if still empty.
if [ ! -d /var/lib/kubelet ]; then mkdir -p /var/lib/kubelet && made_varlibkubelet=1; fi

# The kubelet's root dir is a shared mount, so that what the kubelet mounts
# there in its namespace (emptyDir tmpfs, subPath binds) reaches the
# runtime. Made before either namespace below is, so that both copies of it
# are peers of this one.
mount --bind "$W/kubelet" "$W/kubelet"
mount --make-shared "$W/kubelet"

# Pod logs live in /var/log/pods, the kubelet's default podLogsDir, which
# specs name (ContainerLogPath mounts a log file from there as a hostPath):
# the runtime and the suite each run in a mount namespace of their own
# where /var/log is a tmpfs, /var/log/pods is the run's pod-logs dir and
# /var/log/containers (the kubelet's symlinks to the logs, which
# ContainerLogPath reads too) its container-logs dir, so the host's /var/log
# is never written.
cat >"$W/podlogs.sh" <<'EOF'
set -e
W=$1; shift
# Nothing mounted here may propagate to the host.
mount --make-private /
mount --make-rprivate /proc
mount -t tmpfs -o size=64m,mode=0755 e2enode-log /var/log
mkdir /var/log/pods /var/log/containers
mount --bind "$W/pod-logs" /var/log/pods
mount --bind "$W/container-logs" /var/log/containers
exec "$@"
EOF
inns=(unshare --mount --propagation unchanged -- sh "$W/podlogs.sh" "$W")

# The runtime.
marker=E2ENODE_RUN=$id
case $runtime in
cricket)
	socket=$W/rt/cricket.sock
	cat >"$W/cricket.toml" <<EOF
[log]
verbosity = 2
[network]
cni_conf_dir = "$W/net.d"
cni_bin_dirs = ["/usr/lib/cni"]
default_pod_subnet = ""
EOF
	env "$marker" "${inns[@]}" "$cricketd" --root "$W/rt/root" --state "$W/rt" --listen "$socket" --config "$W/cricket.toml" \
		--registry-config-path "$W/certs.d" >"$W/runtime.log" 2>&1 &
	pids+=($!)
	rt_version=$("$cricketd" version 2>/dev/null | sed -n 1p || echo cricketd)
	;;
containerd)
	socket=$W/rt/c.sock
	# The bench's containerd config (test/internal/ctrdconfig) with the
	# run's dirs and sockets. Where the capability bounding set lacks
	# CAP_SYS_RESOURCE (this CI host), no process may lower its
	# oom_score_adj, and runc fails every sandbox the kubelet asks -998 for
	# ("failed to update /proc/self/oom_score_adj"): the generator then sets
	# restrict_oom_score_adj (clamp at containerd's own score); Cricket
	# clamps on its own when it lacks the capability.
	(cd "$REPO" && go run ./test/bench/cri -containerd-config -root "$W/rt/root" -state "$W/rt/state" \
		-address "$socket" -ttrpc-address "$socket.ttrpc" -opt "$W/rt/opt" \
		-sandbox-image registry.k8s.io/pause:3.10.2 -registry-config-path "$W/certs.d" \
		-cni-bin-dirs /usr/lib/cni -cni-conf-dir "$W/net.d" -runc "$runc" -runc-root "$W/rt/runc") >"$W/containerd.toml"
	env "$marker" PATH="$ctrd_bin:$PATH" "${inns[@]}" "$ctrd_bin/containerd" --config "$W/containerd.toml" >"$W/runtime.log" 2>&1 &
	pids+=($!)
	rt_version="containerd $containerd_version, $("$runc" --version | sed -n 1p)"
	;;
esac
for _ in $(seq 120); do [ -S "$socket" ] && break; kill -0 "${pids[-1]}" || { tail -30 "$W/runtime.log"; exit 1; }; sleep 0.5; done
[ -S "$socket" ] || { log "$runtime did not start"; tail -30 "$W/runtime.log"; exit 1; }
log "$rt_version on $socket"

# The kubelet's configuration: the suite's defaults (services/kubelet.go)
# with its own cgroup root (pods never go to the host's /kubepods, which
# another kubelet may own), its pod logs under the run, ports of its own.
# The kubelet refuses a cgroup root missing in any hierarchy; cpuset needs
# its cpus and mems before a task can join.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	mkdir -p "/sys/fs/cgroup/$cgroot"
else
	for c in $(awk '$9 ~ /^cgroup2?$/ && $5 ~ /^\/sys\/fs\/cgroup\// {print $5}' /proc/self/mountinfo); do
		mkdir -p "$c/$cgroot"
		for f in cpuset.cpus cpuset.mems; do [ -f "$c/$f" ] && cat "$c/$f" >"$c/$cgroot/$f"; done
	done
fi
cat >"$W/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /$cgroot
failSwapOn: false
failCgroupV1: false
podLogsDir: /var/log/pods
volumeStatsAggPeriod: 10s
serializeImagePulls: false
fileCheckFrequency: 10s
podCIDR: $subnet
evictionPressureTransitionPeriod: 30s
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
evictionMinimumReclaim:
  nodefs.available: 1%
  nodefs.inodesFree: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
# The kernel settings the kubelet rewrites (see test/kubelet): bind-mounted
# copies in the suite's mount namespace, so the host's stay as they are.
declare -A sysctls=([vm.overcommit_memory]=1 [vm.panic_on_oom]=0 [kernel.panic]=10 [kernel.panic_on_oops]=1
	[kernel.keys.root_maxkeys]=1000000 [kernel.keys.root_maxbytes]=25000000)
for k in "${!sysctls[@]}"; do echo "${sysctls[$k]}" >"$W/sysctl/$k"; done

# systemd-run is not used even where it exists: the suite would run the
# kubelet as a transient unit outside the run's mount namespace.
kubelet_flags="--root-dir=$W/kubelet --runtime-cgroups= --system-cgroups= --kubelet-cgroups= --cgroup-root=/$cgroot"
cat >"$W/suite.sh" <<'EOF'
set -e
W=$1; shift
# Run by podlogs.sh: only the kubelet's root dir propagates to the host (it
# is shared); the settings below do not.
for f in $(cd "$W/sysctl" && ls); do mount --bind "$W/sysctl/$f" "/proc/sys/$(echo "$f" | tr . /)"; done
# The kubelet's device-plugin socket and the suite's test plugins are at the
# fixed /var/lib/kubelet/device-plugins whatever the root dir: a tmpfs of
# the run's own there, so that two runs (or a node's kubelet) never share
# it and nothing is left on the host.
mount -t tmpfs -o size=16m,mode=0755 e2enode-varlibkubelet /var/lib/kubelet
# Where systemd-run exists the suite runs the kubelet as a transient unit,
# outside this namespace (and needs systemd as PID 1): hide it.
if p=$(command -v systemd-run); then : >"$W/no-systemd-run"; mount --bind "$W/no-systemd-run" "$p"; fi
cd "$W"
exec "$@"
EOF
log "running the suite: focus $focus, skip $skip, $procs processes"
suite_start=$(date +%s)
set +e
# --output-dir with a relative --junit-report: an absolute one, ginkgo joins
# to the suite binary's dir and leaves that path's dirs there, empty (here
# under $W/bin, removed with $W; in the binary cache before the suite was
# linked into $W/bin). See test/cluster/run.sh.
env "$marker" PATH="/usr/local/go/bin:$PATH" timeout --foreground "$timeout" \
	"${inns[@]}" sh "$W/suite.sh" "$W" \
	"$ginkgo" --procs="$procs" --timeout="$timeout" --no-color --focus="$focus" --skip="$skip" \
	--output-dir="$W/report" --junit-report=junit.xml "$e2e_node" -- \
	--container-runtime-endpoint="unix://$socket" --node-name="$node" \
	--prepull-images=false --report-dir="$W/report" --kubelet-config-file="$W/kubelet.yaml" \
	--kubelet-flags="$kubelet_flags" --v=2 >"$W/suite.log" 2>&1
rc=$?
set -e
suite_secs=$(($(date +%s) - suite_start))
tail -40 "$W/suite.log" >&2
# Each focus line must have selected a spec that ran, or the run fails.
focus_check=
if [ -n "$focus_file" ]; then
	focus_check=$(go run -C "$REPO" ./test/internal/junitfocus -file "$focus_file" -junit "$W/report/junit.xml" 2>&1) ||
		{ [ "$rc" != 0 ] || rc=1; }
fi
summary=$(grep -E '^(Ran [0-9]+ of [0-9]+ Specs|(SUCCESS|FAIL)! -- )' "$W/suite.log" | tail -2 | tr '\n' ' ')
{
	echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "runtime: $rt_version"
	echo "kubelet / e2e_node.test: $(basename "$(dirname "$kubelet")")"
	echo "focus: $focus"
	echo "skip: $skip"
	echo "procs: $procs"
	echo "suite seconds: $suite_secs"
	echo "result: $summary"
	if [ -n "$focus_file" ]; then
		echo "specs each line of $(basename "$focus_file") selected:"
		echo "$focus_check" | sed 's/^/  /'
	fi
	echo "failed specs:"
	grep -E '^\s*\[FAIL\]' "$W/suite.log" | sed 's/^\s*/  /' | sort -u || true
} | tee "$W/summary-$runtime.txt" >&2
cp "$W/summary-$runtime.txt" "$out/"
exit $rc
