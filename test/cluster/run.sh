#!/usr/bin/env bash
# make cluster-e2e: a Kubernetes cluster of one control plane and three
# nodes on this one machine, each node its own network and mount namespace
# running cricketd (or containerd) + kubelet + kube-proxy + flanneld; the
# functional checks of issue 18, then Kubernetes' conformance suite
# (e2e.test), then everything is torn down. See README.md.
#
#   test/cluster/run.sh [--runtime cricket|containerd] [--cricketd BIN]
#       [--focus RE | --focus-file FILE] [--skip RE] [--procs N] [--no-e2e] [--out DIR]
#       [--timeout DUR]
#
# Root. Nothing touches the host's network: the nodes are joined by a bridge
# in a "switch" network namespace of the run's own; the host's netns gets no
# link, route or iptables rule. Everything is removed at the end, on
# success, failure or interrupt.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

runtime=${CLUSTER_RUNTIME:-cricket}
cricketd=$REPO/bin/cricketd
focus='\[Conformance\]'
skip=''
procs=3
out=$REPO/_output/cluster
timeout=3h
e2e=1
hold=
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
	--no-e2e) e2e=; shift ;;
	--hold) hold=1; shift ;;
	--out) out=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
case $runtime in cricket | containerd) ;; *) echo "run.sh: --runtime cricket or containerd" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root" >&2; exit 1; }
out=$out/$runtime
mkdir -p "$out"

log() { echo "cluster-e2e: $(date -u +%T) $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
began=$SECONDS

# The skips of the conformance run, each with its reason (see README.md).
default_skips=(
	'\[Serial\]'     # one spec at a time on the whole cluster: too long for this run
	'\[Disruptive\]' # restarts nodes or components
	'\[Slow\]'       # not part of a bounded run
	'\[Flaky\]'      # not conformance
	# Images that test/images cannot build offline (README.md):
	'Sample API Server'            # e2e-test-images/sample-apiserver (k8s.io/sample-apiserver + its etcd)
	'Update Demo'                  # e2e-test-images/nautilus and kitten (nginx serving pictures)
	'ImageVolume'                  # mounts e2e-test-images/kitten as a volume
)
if [ -z "$skip" ]; then
	skip=$(IFS='|'; echo "${default_skips[*]}")
fi

for b in /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback /usr/lib/cni/portmap; do
	[ -x "$b" ] || fail "$b missing (apt-get install containernetworking-plugins)"
done
for t in socat conntrack openssl; do
	command -v "$t" >/dev/null && continue
	log "installing $t from apt"
	apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$t" >&2 || fail "apt-get install $t"
done

# ---------------------------------------------------------------- binaries
mapfile -t bins < <("$REPO/test/kubelet/build.sh" kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl agnhost)
apiserver=${bins[0]} kcm=${bins[1]} scheduler=${bins[2]} proxy=${bins[3]} kubelet=${bins[4]} kubectl=${bins[5]} agnhost=${bins[6]}
if [ -n "$e2e" ]; then
	mapfile -t bins < <("$REPO/test/kubelet/build.sh" e2e.test ginkgo)
	e2e_test=${bins[0]} ginkgo=${bins[1]}
fi
# etcd and the CoreDNS image at the versions kubeadm v1.37 names (built and
# packed by test/kind/images.sh, cached).
cpimages=$("$REPO/test/kind/images.sh")
# The DNS specs' glibc prober image, from a Debian root file system
# (test/e2enode/glibc-dns.sh, cached).
glibc_dns=$("$REPO/test/e2enode/glibc-dns.sh")
# Upstream busybox for every image of the suite: Debian's drops environment
# names that are not identifiers (test/e2enode/busybox.sh), which four
# ConfigMap and Secret [Conformance] specs read back.
busybox=$("$REPO/test/e2enode/busybox.sh")
GOV=$(go env GOVERSION)
etcd_version=$(tar -xOf "$cpimages/etcd.tar" manifest.json | grep -o '"registry.k8s.io/etcd:[^"]*"' | tr -d '"')
etcd_version=v${etcd_version##*:}
etcd=${KIND_CACHE:-/var/cache/cricket-test}/etcd-${etcd_version%-*}-$GOV/etcd
[ -x "$etcd" ] || fail "no etcd at $etcd"
coredns_ref=$(tar -xOf "$cpimages/coredns.tar" manifest.json | grep -o '"registry.k8s.io/coredns/[^"]*"' | tr -d '"')
mapfile -t bins < <("$HERE/build.sh")
flanneld=${bins[0]} flannel_cni=${bins[1]} crane=${bins[2]}
if [ "$runtime" = containerd ]; then
	mapfile -t bins < <(cd "$REPO" && go run ./test/bench/cri -install-containerd -containerd-version "$containerd_version")
	ctrd_bin=${bins[0]} runc=${bins[1]}
	rt_version="containerd $containerd_version, $("$runc" --version | sed -n 1p)"
else
	[ -x "$cricketd" ] || fail "$cricketd missing (make build)"
	rt_version=$("$cricketd" version 2>/dev/null | sed -n 1p)
fi
crictl=$(command -v crictl || ls /var/cache/cricket-test/cri-tools-*/crictl 2>/dev/null | head -1 || true)
log "binaries ready after $((SECONDS - began))s"

# ------------------------------------------------------------------ names
id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
P=cl$id # netns $P-sw, $P-cp, $P-n1..3; cgroup roots /$P-n1..3
W=$(mktemp -d /tmp/cluster-XXXX)
NODES=(1 2 3)
SUBNET=10.240.0 # the nodes' network: .10 control plane, .11-.13 nodes
CP_IP=$SUBNET.10
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
DNS_IP=10.96.0.10
marker=CLUSTER_E2E_RUN=$id
node_ip() { echo "$SUBNET.$((10 + $1))"; }
node_name() { echo "node-$1"; }
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$P-$ns" -- "$@"; }
K() { in_ns cp timeout 330 "$kubectl" --kubeconfig "$W/pki/admin.kubeconfig" "$@"; }


cleanup() {
	local rc=$?
	set +e
	trap - INT TERM
	# The run's own stderr (a trap may run inside a redirected command).
	exec 1>&3 2>&3
	if [ $rc -ne 0 ] && [ -f "$W/pki/admin.kubeconfig" ]; then
		log "nodes and pods at failure"
		in_ns cp timeout 20 "$kubectl" --kubeconfig "$W/pki/admin.kubeconfig" get nodes,pods -A -o wide >&2
	fi
	log "tearing down $P ($W)"
	# Pods first, through the CRI, while the runtimes still run.
	for i in "${NODES[@]}"; do
		local sock=$W/n$i/sock
		[ -S "$sock" ] && [ -n "$crictl" ] && in_ns "n$i" timeout 60 "$crictl" --runtime-endpoint "unix://$sock" rmp -fa >/dev/null 2>&1
	done
	# Then every process of the run: those in its network namespaces, and
	# those carrying its marker (shims that left the netns).
	local ns p
	for ns in n1 n2 n3 cp sw; do
		[ -e "/run/netns/$P-$ns" ] || continue
		for p in $(ip netns pids "$P-$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
	done
	for _ in $(seq 20); do
		[ -z "$(run_pids)" ] && break
		sleep 0.5
	done
	for p in $(run_pids); do kill -9 "$p" 2>/dev/null; done
	# The containers: in their pods' network namespaces, without the
	# marker, but in the nodes' cgroup roots (a pod whose removal did not
	# finish would outlive its shim).
	for _ in $(seq 10); do
		[ -z "$(cgroup_pids)" ] && break
		for p in $(cgroup_pids); do kill -9 "$p" 2>/dev/null; done
		sleep 0.5
	done
	sleep 0.5
	# Mounts: the nodes' die with their mount namespaces; the run's own.
	grep -F " $W/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	for ns in n1 n2 n3 cp sw; do ip netns del "$P-$ns" 2>/dev/null; done
	local d
	for _ in $(seq 10); do
		[ -z "$(cgroup_roots)" ] && break
		for d in $(cgroup_roots); do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
		sleep 0.5
	done
	mkdir -p "$out"
	cp -a "$W"/logs/. "$out/" 2>/dev/null
	rm -rf "$W"
	check_clean || rc=1
	log "done in $((SECONDS - began))s (exit $rc)"
	exit $rc
}
cgroup_roots() { find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name "$P-n*" 2>/dev/null; }
cgroup_pids() { cgroup_roots | while read -r d; do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -u; }
run_pids() {
	{
		for ns in n1 n2 n3 cp sw; do [ -e "/run/netns/$P-$ns" ] && ip netns pids "$P-$ns" 2>/dev/null; done
		grep -l "$marker" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
	} | sort -u | grep -vx "$$" || true
}
# What the run leaves: nothing. The host's network namespace never gets a
# link, route or rule of the run; other root tests may change the host's
# iptables and links meanwhile, so only what could be the run's counts.
host_net() {
	iptables-save 2>/dev/null | grep -vE '^#' | sed 's/ \[[0-9]*:[0-9]*\]$//'
	ip -br link | awk '{print $1}' | grep -vE '^(veth|e2en)'
	ip route show table all
}
ours='FLANNEL|flannel|cni0|10\.24[04]\.|10\.96\.|KUBE-(SVC|SEP|SERVICES|NODEPORTS|POSTROUTING|FORWARD|PROXY)'
check_clean() {
	local left="" new
	[ -n "$(run_pids)" ] && left="$left processes: $(run_pids | tr '\n' ' ')"
	grep -q "^$P-" <<<"$(ip netns list)" && left="$left netns: $(ip netns list | grep "^$P-" | tr '\n' ' ')"
	grep -qE "$W|cl-(etc|run|log)" /proc/self/mountinfo && left="$left mounts: $(grep -E "$W|cl-(etc|run|log)" /proc/self/mountinfo | awk '{print $5}' | tr '\n' ' ')"
	[ -n "$(cgroup_pids)" ] && left="$left processes in the nodes' cgroups: $(cgroup_pids | tr '\n' ' ')"
	[ -n "$(cgroup_roots)" ] && left="$left cgroups: $(cgroup_roots | tr '\n' ' ')"
	[ -e "$W" ] && left="$left $W"
	# ginkgo's report dir beside e2e.test (see --output-dir below).
	[ -n "${e2e_test:-}" ] && [ -e "$(dirname "$e2e_test")$W" ] && left="$left $(dirname "$e2e_test")$W"
	new=$(comm -13 <(echo "$net_before" | sort) <(host_net | sort))
	if [ -n "$new" ]; then
		if grep -qE "$ours" <<<"$new"; then
			left="$left host network: $(grep -E "$ours" <<<"$new" | tr '\n' ' ')"
		else
			log "the host's network changed meanwhile, not by this run: $(tr '\n' ' ' <<<"$new")"
		fi
	fi
	if [ -n "$left" ]; then
		log "LEFT BEHIND:$left"
		return 1
	fi
	log "nothing left behind: no process, netns, mount, cgroup or $W of the run; no link, route or iptables rule in the host's netns"
}
net_before=$(host_net)
exec 3>&2
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$W"/{pki,logs,cni-bin,etcd}

# ----------------------------------------------------------------- network
# The switch: a bridge in a namespace of its own; every member gets a veth
# whose one end is in the switch and the other (eth0) in the member's netns.
ip netns add "$P-sw"
ip -n "$P-sw" link set lo up
ip -n "$P-sw" link add br0 type bridge
ip -n "$P-sw" link set br0 up
member() { # name ip
	local m=$1 addr=$2
	ip netns add "$P-$m"
	ip -n "$P-sw" link add "$m" type veth peer name eth0 netns "$P-$m"
	ip -n "$P-sw" link set "$m" master br0 up
	ip -n "$P-$m" link set lo up
	ip -n "$P-$m" addr add "$addr/24" dev eth0
	ip -n "$P-$m" link set eth0 up
}
member cp "$CP_IP"
for i in "${NODES[@]}"; do
	member "n$i" "$(node_ip "$i")"
	# A default route (a node's addresses are looked up through it; the
	# control plane drops what it does not serve), forwarding for the pods,
	# bridged pod traffic through iptables (kube-proxy's Services between
	# pods of one node): all per network namespace.
	ip -n "$P-n$i" route add default via "$CP_IP"
	in_ns "n$i" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
done
log "network: switch $P-sw (br0), control plane $CP_IP, nodes $(for i in "${NODES[@]}"; do node_ip "$i"; done | tr '\n' ' ')"

# -------------------------------------------------------------------- PKI
pki=$W/pki
(
	cd "$pki"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=cluster-e2e-ca 2>/dev/null
	openssl genrsa -out sa.key 2048 2>/dev/null
	openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
	cert() { # name subject [san]
		openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
		if [ -n "${3:-}" ]; then printf 'subjectAltName=%s\n' "$3" >"$1.ext"; else : >"$1.ext"; fi
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 2 -extfile "$1.ext" 2>/dev/null
	}
	cert apiserver /CN=kube-apiserver \
		"IP:$CP_IP,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	cert admin "/O=system:masters/CN=cluster-admin"
	for i in "${NODES[@]}"; do cert "node-$i" "/O=system:nodes/CN=system:node:$(node_name "$i")"; done
)
kubeconfig() { # out cert
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- cluster: {certificate-authority: $pki/ca.crt, server: "https://$CP_IP:6443"}
  name: e2e
contexts:
- context: {cluster: e2e, user: u}
  name: e2e
current-context: e2e
users:
- name: u
  user: {client-certificate: $pki/$2.crt, client-key: $pki/$2.key}
EOF
}
kubeconfig "$pki/admin.kubeconfig" admin
for i in "${NODES[@]}"; do kubeconfig "$pki/node-$i.kubeconfig" "node-$i"; done

# ----------------------------------------------------------- control plane
# Processes in the control plane's netns (and the host's mount namespace:
# they write only under $W).
cp_start() { # name cmd...
	local name=$1; shift
	in_ns cp env "$marker" "$@" >"$W/logs/$name.log" 2>&1 &
}
cp_start etcd "$etcd" --data-dir "$W/etcd" --listen-client-urls http://127.0.0.1:2379 \
	--advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
	--unsafe-no-fsync --log-level warn
cp_start kube-apiserver "$apiserver" --etcd-servers=http://127.0.0.1:2379 \
	--advertise-address="$CP_IP" --secure-port=6443 --service-cluster-ip-range="$SERVICE_CIDR" \
	--client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
	--kubelet-client-certificate="$pki/admin.crt" --kubelet-client-key="$pki/admin.key" \
	--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
	--kubelet-preferred-address-types=InternalIP,Hostname --enable-aggregator-routing=true --profiling=false
for _ in $(seq 120); do K get --raw /readyz >/dev/null 2>&1 && break; sleep 1; done
K get --raw /readyz >/dev/null || { tail -20 "$W/logs/kube-apiserver.log" >&2; fail "kube-apiserver not ready"; }
cp_start kube-controller-manager "$kcm" --kubeconfig="$pki/admin.kubeconfig" --leader-elect=false \
	--bind-address=127.0.0.1 --allocate-node-cidrs --cluster-cidr="$CLUSTER_CIDR" --node-cidr-mask-size=24 \
	--service-cluster-ip-range="$SERVICE_CIDR" --service-account-private-key-file="$pki/sa.key" \
	--root-ca-file="$pki/ca.crt" --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
	--use-service-account-credentials --controllers='*,bootstrapsigner,tokencleaner' --profiling=false
cp_start kube-scheduler "$scheduler" --kubeconfig="$pki/admin.kubeconfig" --leader-elect=false \
	--bind-address=127.0.0.1 --profiling=false
log "control plane up after $((SECONDS - began))s: etcd $etcd_version, kube-apiserver $(basename "$(dirname "$apiserver")")"

# ---------------------------------------------------------------- registry
# test/images serves the images on the control plane's loopback; socat
# makes it reachable on the switch, where the nodes' hosts.toml point.
go build -C "$REPO" -o "$W/images" ./test/images
cp_start registry "$W/images" serve --addr 127.0.0.1:5000 --hosts-dir "$W/certs.d" --agnhost "$agnhost" --glibc-dns-rootfs "$glibc_dns" --busybox "$busybox"
for _ in $(seq 600); do grep -q '^serving' "$W/logs/registry.log" && break; sleep 0.5; done
grep -q '^serving' "$W/logs/registry.log" || { tail "$W/logs/registry.log" >&2; fail "registry did not start"; }
grep -rq '127.0.0.1:500[1-9]' "$W/certs.d" && fail "the registry split per host (a path collision): not supported here"
cp_start socat socat "TCP-LISTEN:5000,bind=$CP_IP,fork,reuseaddr" TCP:127.0.0.1:5000
sed -i "s#127.0.0.1:5000#$CP_IP:5000#g" "$W"/certs.d/*/hosts.toml
# CoreDNS, packed by test/kind/images.sh, pushed under its upstream name.
in_ns cp "$crane" push --insecure "$cpimages/coredns.tar" "127.0.0.1:5000/${coredns_ref#registry.k8s.io/}" >"$W/logs/crane.log" 2>&1 ||
	{ cat "$W/logs/crane.log" >&2; fail "pushing $coredns_ref"; }
log "registry on $CP_IP:5000 (mirror of $(ls "$W/certs.d" | tr '\n' ' '))"

# ------------------------------------------------------------------- nodes
cp "$flannel_cni" "$W/cni-bin/flannel"
# The kernel settings the kubelet rewrites (not namespaced): each node
# binds copies over them in its mount namespace (see test/kubelet).
mkdir -p "$W/sysctl"
declare -A sysctls=([vm.overcommit_memory]=1 [vm.panic_on_oom]=0 [kernel.panic]=10 [kernel.panic_on_oops]=1
	[kernel.keys.root_maxkeys]=1000000 [kernel.keys.root_maxbytes]=25000000)
for k in "${!sysctls[@]}"; do echo "${sysctls[$k]}" >"$W/sysctl/$k"; done

node_files() { # i: the node's own /etc (an overlay over the host's), seen only in its mount namespace
	local i=$1 N=$W/n$i
	local etc=$N/etc-upper name ip
	name=$(node_name "$i") ip=$(node_ip "$i")
	mkdir -p "$N"/{etc-upper,etc-work,varlib-upper,varlib-work,kubelet,cni,lib,log} "$etc"/{kubernetes/pki,cni/net.d,kube-flannel}
	cp "$pki/ca.crt" "$etc/kubernetes/pki/ca.crt"
	cp "$pki/node-$i.kubeconfig" "$etc/kubernetes/kubelet.conf"
	cp "$pki/admin.kubeconfig" "$etc/kubernetes/admin.conf"
	echo "$name" >"$etc/hostname"
	# No upstream DNS server is reachable from the cluster: the node's
	# resolver (and CoreDNS's forward) names one on the switch that nobody
	# answers, so external names fail fast instead of leaking to the host's.
	echo "nameserver $SUBNET.1" >"$etc/resolv.conf"
	# flannel: the network, and the CNI configuration kube-flannel installs
	# (its cniVersion is 0.3.1: the plugin of containernetworking/plugins
	# v0.9.1 speaks up to 0.4.0).
	cat >"$etc/kube-flannel/net-conf.json" <<EOF
{"Network": "$CLUSTER_CIDR", "EnableNFTables": false, "Backend": {"Type": "host-gw"}}
EOF
	cat >"$etc/cni/net.d/10-flannel.conflist" <<EOF
{
  "name": "cbr0",
  "cniVersion": "0.3.1",
  "plugins": [
    {"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
	case $runtime in
	cricket)
		# As deploy/multinode.md installs a node: deploy/cricket.toml and
		# the drop-in that turns the embedded default network off (the
		# cluster CNI's conflist is the pods' network); the run's own
		# drop-in only says where the flannel plugin is (not /opt/cni/bin,
		# which is the host's).
		mkdir -p "$etc/cricket/cricket.d"
		cp -r "$W/certs.d" "$etc/cricket/certs.d"
		cp "$REPO/deploy/cricket.toml" "$etc/cricket/cricket.toml"
		cp "$REPO/deploy/cricket.d/50-cluster-cni.toml" "$etc/cricket/cricket.d/"
		cat >"$etc/cricket/cricket.d/90-cluster-e2e.toml" <<EOF
[log]
verbosity = 1
[network]
cni_bin_dirs = ["$W/cni-bin", "/usr/lib/cni"]
EOF
		echo "unix:///run/cricket/cricket.sock" >"$N/endpoint"
		;;
	containerd)
		mkdir -p "$etc/containerd" "$N/containerd"
		cp -r "$W/certs.d" "$etc/containerd/certs.d"
		# The bench's containerd config (test/internal/ctrdconfig) at
		# containerd's default state, sockets, opt and runc root (the node's
		# own /run), its root under the node's dir. Without CAP_SYS_RESOURCE
		# in the bounding set (this build VM lacks it) no process may lower
		# an oom_score_adj below its own: runc's init fails on the -998 a
		# sandbox asks for. The generator then sets restrict_oom_score_adj
		# (containerd clamps to its own score), as cricketd does (pkg/oci).
		(cd "$REPO" && go run ./test/bench/cri -containerd-config -root "$N/containerd" -state /run/containerd \
			-address /run/containerd/containerd.sock -sandbox-image registry.k8s.io/pause:3.10.2 \
			-registry-config-path /etc/containerd/certs.d -cni-bin-dirs "$W/cni-bin,/usr/lib/cni" \
			-cni-conf-dir /etc/cni/net.d -runc "$runc") >"$etc/containerd/config.toml"
		echo "unix:///run/containerd/containerd.sock" >"$N/endpoint"
		;;
	esac
	cat >"$etc/kubernetes/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: $(cat "$N/endpoint")
cgroupDriver: cgroupfs
cgroupRoot: /$P-n$i
failSwapOn: false
failCgroupV1: false
address: $ip
readOnlyPort: 0
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: /etc/kubernetes/pki/ca.crt}
authorization: {mode: Webhook}
serializeImagePulls: false
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
	cat >"$etc/kubernetes/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: /etc/kubernetes/admin.conf}
hostnameOverride: $name
clusterCIDR: $CLUSTER_CIDR
# nf_conntrack_max is the host's (not per network namespace): left alone.
conntrack: {maxPerCore: 0, min: 0}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
EOF
	# The node's cgroup root, in every hierarchy (cpuset needs its cpus
	# and mems before a task can join).
	local c f
	for c in $(awk '$9 ~ /^cgroup2?$/ && $5 ~ /^\/sys\/fs\/cgroup/ {print $5}' /proc/self/mountinfo); do
		mkdir -p "$c/$P-n$i"
		for f in cpuset.cpus cpuset.mems; do [ -f "$c/$f" ] && cat "$c/$f" >"$c/$P-n$i/$f"; done
	done
	# The node's init: its mounts, then its daemons. Runs in the node's
	# netns and a mount namespace of its own (slave of the host's).
	cat >"$N/init.sh" <<EOF
set -eu
N=$N
# sysfs of this network namespace (its links under /sys/class/net), the
# host's cgroup hierarchies kept.
mkdir -p \$N/cg
mount --rbind /sys/fs/cgroup \$N/cg
mount -t sysfs sysfs /sys
mount --move \$N/cg /sys/fs/cgroup
# The node's own /etc, /run, /var/log and state directories.
mount -t overlay cl-etc -o lowerdir=/etc,upperdir=\$N/etc-upper,workdir=\$N/etc-work /etc
mount -t tmpfs -o mode=0755,size=256m cl-run /run
mkdir -p /run/lock
mount -t tmpfs -o mode=0755,size=256m cl-log /var/log
# /var/lib, too, is an overlay over the host's: the mount points below
# need not exist on the host (a fresh machine has no /var/lib/kubelet or
# /var/lib/cricket), and nothing a node writes there reaches the host's.
mount -t overlay cl-varlib -o lowerdir=/var/lib,upperdir=\$N/varlib-upper,workdir=\$N/varlib-work /var/lib
mkdir -p /var/lib/kubelet /var/lib/cni /var/lib/cricket
mount --bind \$N/kubelet /var/lib/kubelet
mount --bind \$N/cni /var/lib/cni
mount --bind \$N/lib /var/lib/cricket
for f in \$(cd $W/sysctl && ls); do mount --bind $W/sysctl/\$f /proc/sys/\$(echo \$f | tr . /); done
start() { name=\$1; shift; "\$@" >$W/logs/n$i-\$name.log 2>&1 & }
EOF
	case $runtime in
	cricket) echo "start cricketd $cricketd --config /etc/cricket/cricket.toml" >>"$N/init.sh" ;;
	containerd) echo "start containerd env PATH=$ctrd_bin:\$PATH $ctrd_bin/containerd --config /etc/containerd/config.toml" >>"$N/init.sh" ;;
	esac
	cat >>"$N/init.sh" <<EOF
sock=\$(sed 's#^unix://##' $N/endpoint)
for _ in \$(seq 120); do [ -S "\$sock" ] && break; sleep 0.5; done
ln -s "/proc/\$\$/root\$sock" $N/sock 2>/dev/null || true
start kubelet $kubelet --config=/etc/kubernetes/kubelet.yaml --kubeconfig=/etc/kubernetes/kubelet.conf \
	--hostname-override=$name --node-ip=$ip --runtime-cgroups= --system-cgroups= --kubelet-cgroups= --v=1
start kube-proxy $proxy --config=/etc/kubernetes/kube-proxy.yaml --v=1
# flanneld exits when its node has no pod CIDR yet: it starts once the node
# has one (its DaemonSet pod would start on a registered node), and again
# whenever it exits, as the pod would be restarted.
flannel() {
	until [ -n "\$($kubectl --kubeconfig=/etc/kubernetes/admin.conf get node $name -o jsonpath='{.spec.podCIDR}' 2>/dev/null)" ]; do
		sleep 1
	done
	while :; do
		env NODE_NAME=$name $flanneld --kube-subnet-mgr --kubeconfig-file=/etc/kubernetes/admin.conf \
			--iface=eth0 --ip-masq --iptables-resync=30 --net-config-path=/etc/kube-flannel/net-conf.json || true
		sleep 2
	done
}
start flanneld flannel
wait
EOF
}
declare -A init_pid
for i in "${NODES[@]}"; do
	node_files "$i"
	in_ns "n$i" env "$marker" unshare --mount --propagation slave -- sh "$W/n$i/init.sh" >"$W/logs/n$i-init.log" 2>&1 &
	init_pid[$i]=$!
done

log "waiting for the nodes to register and get pod CIDRs"
for _ in $(seq 180); do
	[ "$(K get nodes -o jsonpath='{range .items[*]}{.spec.podCIDR}{"\n"}{end}' 2>/dev/null | grep -c .)" -eq 3 ] && break
	# A node's init waits for its daemons: if it is gone, so is the node.
	for i in "${NODES[@]}"; do
		kill -0 "${init_pid[$i]}" 2>/dev/null || { tail -20 "$W/logs/n$i-init.log" >&2; fail "node-$i's init exited"; }
	done
	sleep 2
done
# The control plane is not a node: it reaches the pods (webhooks, the API
# server's proxy) by a route to each node's pod CIDR, as flannel's host-gw
# backend sets on the nodes.
for i in "${NODES[@]}"; do
	cidr=$(K get node "$(node_name "$i")" -o jsonpath='{.spec.podCIDR}')
	[ -n "$cidr" ] || { tail -20 "$W/logs/n$i-kubelet.log" "$W/logs/n$i-init.log" >&2; fail "node-$i has no pod CIDR"; }
	ip -n "$P-cp" route add "$cidr" via "$(node_ip "$i")"
done
# Service IPs from the control plane (e2e.test runs there) go through a
# node's kube-proxy.
ip -n "$P-cp" route add "$SERVICE_CIDR" via "$(node_ip 1)"
K wait --for=condition=Ready node --all --timeout=300s >&2 || fail "nodes not Ready"
K get nodes -o wide >&2
runtimes=$(K get nodes -o jsonpath='{range .items[*]}{.status.nodeInfo.containerRuntimeVersion}{"\n"}{end}')
want=$([ "$runtime" = cricket ] && echo cricket || echo containerd)
[ "$(grep -c "^$want://" <<<"$runtimes")" -eq 3 ] || fail "container runtimes: $runtimes"
log "3 nodes Ready on $want after $((SECONDS - began))s"

# ---------------------------------------------------------------- CoreDNS
sed -e "s#@IMAGE@#$coredns_ref#" -e "s#@DNS_IP@#$DNS_IP#" "$HERE/coredns.yaml" | K apply -f - >&2
K -n kube-system rollout status deployment/coredns --timeout=300s >&2 || fail "CoreDNS not ready"
log "CoreDNS ready after $((SECONDS - began))s"
if [ -n "$hold" ]; then
	log "holding the cluster: KUBECONFIG=$W/pki/admin.kubeconfig in netns $P-cp; rm $W/hold to go on"
	touch "$W/hold"
	while [ -e "$W/hold" ]; do sleep 2; done
fi

# ----------------------------------------------------------------- checks
# Issue 18's Done-when: a Deployment spread across the three nodes,
# pod-to-pod traffic across nodes, a Service by ClusterIP and by DNS name,
# kubectl exec, logs and port-forward on a pod of every node.
AGNHOST=registry.k8s.io/e2e-test-images/agnhost:2.66.1
K apply -f - >&2 <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
      containers:
      - name: web
        image: $AGNHOST
        args: ["netexec", "--http-port=8080"]
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: 8080}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
EOF
K rollout status deployment/web --timeout=300s >&2 || fail "Deployment web not available"
mapfile -t pods < <(K get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
mapfile -t podnodes < <(K get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}')
mapfile -t podips < <(K get pods -l app=web -o jsonpath='{range .items[*]}{.status.podIP}{"\n"}{end}')
[ "$(printf '%s\n' "${podnodes[@]}" | sort -u | wc -l)" -eq 3 ] || fail "web pods on: ${podnodes[*]}"
log "Deployment spread: $(for j in 0 1 2; do echo -n "${pods[$j]}@${podnodes[$j]}(${podips[$j]}) "; done)"
svcip=$(K get svc web -o jsonpath='{.spec.clusterIP}')
# (No wget -T: Debian's busybox 1.35 segfaults on it, in the image as on the host.)
get() { K exec "$1" -- wget -qO- "$2"; } # pod url
for j in 0 1 2; do
	p=${pods[$j]} o=$(((j + 1) % 3))
	# pod to pod, across nodes
	got=$(get "$p" "http://${podips[$o]}:8080/hostname") || fail "pod-to-pod ${podnodes[$j]} -> ${podnodes[$o]}"
	[ "$got" = "${pods[$o]}" ] || fail "pod-to-pod ${podnodes[$j]} -> ${podnodes[$o]}: $got"
	# the Service by ClusterIP and by name
	got=$(get "$p" "http://$svcip/hostname") || fail "Service by ClusterIP from ${podnodes[$j]}"
	grep -qxF -- "$got" <<<"$(printf '%s\n' "${pods[@]}")" || fail "Service by ClusterIP from ${podnodes[$j]}: $got"
	got=$(get "$p" "http://web.default.svc.cluster.local/hostname") || fail "Service by DNS name from ${podnodes[$j]}"
	grep -qxF -- "$got" <<<"$(printf '%s\n' "${pods[@]}")" || fail "Service by DNS name from ${podnodes[$j]}: $got"
	# exec, logs, port-forward
	[ "$(K exec "$p" -- hostname)" = "$p" ] || fail "kubectl exec on ${podnodes[$j]}"
	# (Not `K logs | grep -q`: under pipefail, kubectl dies of SIGPIPE when
	# grep exits at the first line while the rest is still being written.)
	got=$(K logs "$p") || fail "kubectl logs on ${podnodes[$j]}"
	grep -q "Started HTTP server on port 8080" <<<"$got" || fail "kubectl logs on ${podnodes[$j]}: $(tail -3 <<<"$got")"
	port=$((18080 + j))
	in_ns cp timeout 60 "$kubectl" --kubeconfig "$W/pki/admin.kubeconfig" port-forward "pod/$p" "$port:8080" >"$W/logs/port-forward-$j.log" 2>&1 &
	pf=$!
	got=
	for _ in $(seq 30); do
		got=$(in_ns cp curl -s -m 5 "http://127.0.0.1:$port/hostname" 2>/dev/null || true)
		[ -n "$got" ] && break
		sleep 1
	done
	kill "$pf" 2>/dev/null; wait "$pf" 2>/dev/null || true
	[ "$got" = "$p" ] || fail "kubectl port-forward on ${podnodes[$j]}: '$got' $(cat "$W/logs/port-forward-$j.log")"
	log "${podnodes[$j]}: pod-to-pod, Service by IP and name, exec, logs, port-forward: ok"
done
K delete deployment/web service/web --wait=false >&2
log "PASS: functional checks on $want after $((SECONDS - began))s"
[ -n "$e2e" ] || exit 0

# ---------------------------------------------------------- conformance
# e2e.test in the control plane's netns; its images come through the
# nodes' mirrors (no pre-pull).
mkdir -p "$W/report" "$W/bin"
ln -s "$kubectl" "$W/bin/kubectl"
log "e2e.test: focus $focus, skip $skip, $procs processes"
suite_start=$SECONDS
set +e
# The JUnit report: ginkgo has the suite write it at its path joined to the
# suite binary's dir (filepath.Join keeps an absolute second element inside
# the first), then merges it into the path given and removes the file, not
# its dirs: an absolute --junit-report left an empty <e2e.test's dir>$W/report
# in the binary cache. With --output-dir both files are in $W/report.
in_ns cp env "$marker" PATH="$W/bin:$PATH" KUBECONFIG="$W/pki/admin.kubeconfig" timeout --foreground "$timeout" \
	"$ginkgo" --procs="$procs" --timeout="$timeout" --no-color --focus="$focus" --skip="$skip" \
	--output-dir="$W/report" --junit-report=junit.xml "$e2e_test" -- \
	--kubeconfig="$W/pki/admin.kubeconfig" --provider=skeleton --report-dir="$W/report" \
	--kubectl-path="$W/bin/kubectl" --num-nodes=3 --dump-logs-on-failure=false >"$W/logs/e2e.log" 2>&1
rc=$?
set -e
suite_secs=$((SECONDS - suite_start))
tail -40 "$W/logs/e2e.log" >&2
# Each focus line must have selected a spec that ran, or the run fails.
focus_check=
if [ -n "$focus_file" ]; then
	focus_check=$(go run -C "$REPO" ./test/internal/junitfocus -file "$focus_file" -junit "$W/report/junit.xml" 2>&1) ||
		{ [ "$rc" != 0 ] || rc=1; }
fi
summary=$(grep -a -E '^(Ran [0-9]+ of [0-9]+ Specs|(SUCCESS|FAIL)! -- )' "$W/logs/e2e.log" | tail -2 | tr '\n' ' ')
{
	echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "runtime: $rt_version"
	echo "kubernetes: $(basename "$(dirname "$e2e_test")"), flannel $(basename "$(dirname "$flanneld")"), $coredns_ref"
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
	grep -a -E '^\s*\[FAIL\]' "$W/logs/e2e.log" | sed 's/^\s*/  /' | sort -u || true
} | tee "$W/logs/summary-$runtime.txt" >&2
cp -a "$W/report" "$W/logs/" 2>/dev/null
exit $rc
