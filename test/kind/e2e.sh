#!/bin/bash
# make kind-e2e: a kind cluster whose nodes run Cricket, on this machine,
# offline. Builds what is missing (node-image.sh, images.sh), starts a
# dockerd of its own (dockerd.sh), creates one control plane and two
# workers from deploy/kind/kind-config.yaml on the offline node image,
# checks the cluster, deletes it, stops dockerd and leaves nothing behind.
# Run it under flock /tmp/cricket-root.lock (it changes nothing the other
# root tests use, but dockerd.sh's checks compare the host before and after).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
RUN=${KIND_E2E_RUN:-/var/tmp/cricket-kind-e2e}
CLUSTER=cricket-e2e
NODE_IMAGE=cricket/kind-node:v1.37.2
# The kind network's subnet, private and unused by the other suites.
SUBNET=172.30.96.0/24
TEST_IMAGE=example.invalid/e2e/busybox:1
export KUBECONFIG=$RUN/kubeconfig
log() { echo "kind-e2e: $(date -u +%T) $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

node_tar=$("$repo/test/kind/node-image.sh")
kind=${KIND_CACHE:-/var/cache/cricket-test}/kind-v0.33.0-$(go env GOVERSION)/kind
kubectl=$("$repo/test/kubelet/build.sh" kubectl)
k() { timeout 120 "$kubectl" "$@"; }
docker=/usr/bin/docker

# /lib/modules is bind-mounted into kind nodes; docker creates it on a host
# that has none, and the cleanup removes what it created.
made_modules=""
[ -e /lib/modules ] || made_modules=1
# The kubelet in a privileged node sets kernel tunables that are not
# namespaced (its setupKernelTunables): they are the host's, and are put
# back.
TUNABLES="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"
saved_tunables=$(for s in $TUNABLES; do echo "$s=$(sysctl -n "$s")"; done)
cleanup() {
	local rc=$?
	set +e
	if [ $rc -ne 0 ] && [ -x "$kind" ]; then
		log "pods, and the cluster DNS's events and logs"
		k get pods -A -o wide >&2
		k -n kube-system describe pods -l k8s-app=kube-dns 2>&1 | tail -40 >&2
		k -n kube-system logs -l k8s-app=kube-dns --tail=30 >&2
		for n in $("$kind" get nodes --name "$CLUSTER" 2>/dev/null); do
			log "journal of $n (last 40 lines)"
			$docker exec "$n" journalctl --no-pager -n 40 >&2
		done
	fi
	timeout 300 "$kind" delete cluster --name "$CLUSTER" >&2
	"$repo/test/kind/dockerd.sh" stop "$RUN/docker" || rc=1
	[ -n "$made_modules" ] && rmdir /lib/modules 2>/dev/null
	for kv in $saved_tunables; do
		[ "$(sysctl -n "${kv%%=*}")" = "${kv#*=}" ] && continue
		log "restoring $kv (the nodes' kubelets changed it)"; sysctl -qw "$kv"
	done
	rm -rf "$RUN"
	log "done (exit $rc)"
	exit $rc
}
mkdir -p "$RUN"
trap cleanup EXIT
"$repo/test/kind/dockerd.sh" start "$RUN/docker"
# dockerd.sh keeps its socket in its run dir.
export DOCKER_HOST=unix://$RUN/docker/docker.sock

log "importing the node image"
$docker import --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
	--change 'ENV container=docker' "$node_tar" "$NODE_IMAGE" >/dev/null
$docker network create --subnet "$SUBNET" -o com.docker.network.bridge.enable_ip_masquerade=false kind >/dev/null

# deploy/kind/kind-config.yaml as it is, plus what this host needs: the
# kubelet on cgroup v1 (failCgroupV1: false), and no kindnet (not on the
# module proxy): the nodes get a bridge conflist and routes below.
cfg=$RUN/kind-config.yaml
cp "$repo/deploy/kind/kind-config.yaml" "$cfg"
cat >>"$cfg" <<'EOF'
- |
  kind: KubeletConfiguration
  failCgroupV1: false
networking:
  disableDefaultCNI: true
EOF
log "creating the cluster"
start=$SECONDS
timeout 900 "$kind" create cluster --name "$CLUSTER" --config "$cfg" --kubeconfig "$KUBECONFIG" --retain >&2
log "cluster created in $((SECONDS - start))s"
mapfile -t nodes < <("$kind" get nodes --name "$CLUSTER" | sort)
[ ${#nodes[@]} -eq 3 ] || fail "want 3 nodes, got ${nodes[*]}"

# Pod networking from the CNI plugins the image ships: a bridge with the
# node's pod CIDR on every node, and a route to every other node's.
for n in "${nodes[@]}"; do
	cidr=$(k get node "$n" -o jsonpath='{.spec.podCIDR}')
	$docker exec "$n" sysctl -qw net.ipv4.ip_forward=1
	$docker exec -i "$n" sh -c 'mkdir -p /etc/cni/net.d && cat >/etc/cni/net.d/10-e2e.conflist' <<EOF
{"cniVersion": "1.0.0", "name": "kind-e2e", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
	for o in "${nodes[@]}"; do
		[ "$o" = "$n" ] && continue
		ocidr=$(k get node "$o" -o jsonpath='{.spec.podCIDR}')
		oip=$(k get node "$o" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
		$docker exec "$n" ip route replace "$ocidr" via "$oip"
	done
done

log "waiting for the nodes to be Ready"
k wait --for=condition=Ready node --all --timeout=300s >&2
k get nodes -o wide >&2
runtimes=$(k get nodes -o jsonpath='{range .items[*]}{.status.nodeInfo.containerRuntimeVersion}{"\n"}{end}')
[ "$(grep -c '^cricket://' <<<"$runtimes")" -eq 3 ] || fail "container runtimes: $runtimes"

log "loading $TEST_IMAGE into the nodes with cricketd image import"
go run -C "$repo" ./test/kind/cpimage -o "$RUN/busybox.tar" -tag "$TEST_IMAGE" -add /bin/busybox:/bin/busybox \
	$(for a in sh httpd wget cat hostname sleep echo; do echo "-link /bin/$a:busybox"; done) -entrypoint /bin/sh
for n in "${nodes[@]}"; do
	$docker exec -i "$n" cricketd image import - <"$RUN/busybox.tar" >&2
done

log "a Deployment across the workers, a Service, DNS, exec, logs, port-forward"
k apply -f - >&2 <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
      containers:
      - name: web
        image: $TEST_IMAGE
        imagePullPolicy: Never
        command: ["sh", "-c", "echo serving from \$(hostname) >/index.html; echo web started; httpd -f -p 8080 -h /"]
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
EOF
k rollout status deployment/web --timeout=300s >&2
mapfile -t pods < <(k get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
hosts=$(k get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u)
[ "$(wc -l <<<"$hosts")" -eq 2 ] && ! grep -q control-plane <<<"$hosts" || fail "web pods on: $hosts"
ip1=$(k get pod "${pods[1]}" -o jsonpath='{.status.podIP}')
out=$(k exec "${pods[0]}" -- wget -qO- "http://$ip1:8080/")
grep -q "serving from ${pods[1]}" <<<"$out" || fail "pod-to-pod across nodes: $out"
log "pod-to-pod across nodes: $out"
timeout 310 "$kubectl" -n kube-system rollout status deployment/coredns --timeout=300s >&2
out=$(k exec "${pods[0]}" -- wget -qO- http://web.default.svc.cluster.local/)
grep -q "serving from" <<<"$out" || fail "Service by name: $out"
log "Service by name: $out"
out=$(k logs "${pods[0]}") || fail "kubectl logs"
grep -q "web started" <<<"$out" || fail "kubectl logs: $(tail -3 <<<"$out")"
k port-forward "pod/${pods[0]}" 18080:8080 >"$RUN/pf.log" 2>&1 &
pf=$!
for _ in $(seq 30); do
	out=$(timeout 5 wget -qO- http://127.0.0.1:18080/ 2>/dev/null || true)
	[ -n "$out" ] && break
	sleep 1
done
kill "$pf"; wait "$pf" 2>/dev/null || true
grep -q "serving from ${pods[0]}" <<<"$out" || fail "port-forward: $out $(cat "$RUN/pf.log")"
log "PASS: 3 nodes Ready on cricket, Deployment across workers, pod-to-pod, Service by name, exec, logs, port-forward, imported image"
