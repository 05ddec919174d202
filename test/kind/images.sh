#!/bin/bash
# Builds the images kubeadm wants for the kind e2e from the Go module proxy,
# under the names and tags kubeadm asks for (`kubeadm config images list`),
# as docker archives for `cricketd image import` in one directory. Prints
# its path on stdout; progress on stderr. Cached under $KIND_CACHE
# (/var/cache/cricket-test):
#
#   kubelet-<k8s>-<go>/kube-{apiserver,controller-manager,scheduler,proxy}  test/kubelet/build.sh
#   etcd-<version>-<go>/etcd           go.etcd.io/etcd/server/v3, built in a module of its own
#                                      (etcd's go.mod has replace directives, so go install refuses it)
#   coredns-<version>-<go>/coredns     github.com/coredns/coredns
#   kind-cp-images-<hash>/*.tar        the images (test/kind/cpimage): each binary with the
#                                      host's shared libraries it needs; kube-proxy also gets
#                                      the host's iptables (nft) and conntrack
#
# No pause image: Cricket pins pod namespaces to files and needs none.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
CACHE=${KIND_CACHE:-/var/cache/cricket-test}
GOV=$(go env GOVERSION)
log() { echo "images.sh: $*" >&2; }

bins=$("$repo/test/kubelet/build.sh" kubeadm kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
kubeadm=$(sed -n 1p <<<"$bins")
k8s_version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3} $1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2}' "$repo/test/kubelet/build/go.mod")
[ -n "$k8s_version" ] || { echo "$(basename "$0"): no k8s.io/kubernetes requirement in test/kubelet/build/go.mod" >&2; exit 1; }
wanted=$("$kubeadm" config images list --kubernetes-version "$k8s_version" 2>/dev/null)
tag_of() { grep -E "/$1:" <<<"$wanted" | head -1; }
etcd_tag=$(tag_of etcd) coredns_tag=$(tag_of coredns)
[ -n "$etcd_tag" ] && [ -n "$coredns_tag" ] || { log "kubeadm listed no etcd or coredns image: $wanted"; exit 1; }
etcd_version=v${etcd_tag##*:}
etcd_version=${etcd_version%-*}
coredns_version=${coredns_tag##*:}

# modbuild builds package pkg of module mod@version in a module of its own
# (so that the module's replace directives do not apply) into out.
modbuild() { # out module version package
	local out=$1 mod=$2 version=$3 pkg=$4
	[ -x "$out" ] && return 0
	log "building $pkg@$version"
	local start=$SECONDS dir
	dir=$(mktemp -d /var/tmp/kind-modbuild.XXXXXX)
	(
		cd "$dir"
		export GOFLAGS=-mod=mod GOWORK=off
		go mod init kindbuild >/dev/null 2>&1
		go get "$mod@$version" >/dev/null 2>&1
		mkdir -p "$(dirname "$out")"
		CGO_ENABLED=0 go build -trimpath -o "$out.tmp.$$" "$pkg" && mv "$out.tmp.$$" "$out"
	) >&2 || { rm -rf "$dir"; log "building $pkg@$version failed"; return 1; }
	rm -rf "$dir"
	log "$pkg@$version built in $((SECONDS - start))s"
}
etcd=$CACHE/etcd-$etcd_version-$GOV/etcd
coredns=$CACHE/coredns-$coredns_version-$GOV/coredns
modbuild "$etcd" go.etcd.io/etcd/server/v3 "$etcd_version" go.etcd.io/etcd/server/v3
modbuild "$coredns" github.com/coredns/coredns "$coredns_version" github.com/coredns/coredns

# kube-proxy's image carries the host's iptables (nft), its extensions (the
# conntrack match and the others iptables dlopens from xtables/) and conntrack.
if [ ! -x /usr/sbin/conntrack ] || [ ! -x /usr/sbin/xtables-nft-multi ]; then
	log "installing conntrack and iptables from apt"
	apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq conntrack iptables >&2 ||
		{ log "apt-get install conntrack iptables failed"; exit 1; }
fi
key=$( {
	echo "$wanted"
	sha256sum $bins "$etcd" "$coredns" /usr/sbin/xtables-nft-multi /usr/sbin/conntrack
	cat "$0" "$repo/test/kind/cpimage/main.go"
} | sha256sum | cut -c1-12)
out=$CACHE/kind-cp-images-$key
if [ -d "$out" ]; then
	echo "$out"
	exit 0
fi
start=$SECONDS
work=$out.tmp.$$
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
cp="go run -C $repo ./test/kind/cpimage"
for c in kube-apiserver kube-controller-manager kube-scheduler; do
	bin=$(grep "/$c\$" <<<"$bins")
	$cp -o "$work/$c.tar" -tag "$(tag_of "$c")" -add "$bin:/usr/local/bin/$c" -entrypoint "/usr/local/bin/$c"
done
proxy=$(grep "/kube-proxy\$" <<<"$bins")
xt=/usr/sbin/xtables-nft-multi
$cp -o "$work/kube-proxy.tar" -tag "$(tag_of kube-proxy)" -add "$proxy:/usr/local/bin/kube-proxy" \
	-add "$xt:$xt" -add /usr/sbin/conntrack:/usr/sbin/conntrack \
	$(for x in /usr/lib/x86_64-linux-gnu/xtables/*.so; do echo "-add $x:$x"; done) \
	-add /lib/x86_64-linux-gnu/libm.so.6:/lib/x86_64-linux-gnu/libm.so.6 \
	$(for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do echo "-link /usr/sbin/$t:xtables-nft-multi"; done) \
	-entrypoint /usr/local/bin/kube-proxy
$cp -o "$work/etcd.tar" -tag "$etcd_tag" -add "$etcd:/usr/local/bin/etcd" -dir /var/lib/etcd -entrypoint /usr/local/bin/etcd
$cp -o "$work/coredns.tar" -tag "$coredns_tag" -add "$coredns:/coredns" -entrypoint /coredns
mv "$work" "$out"
log "images packed in $((SECONDS - start))s"
echo "$out"
