#!/usr/bin/env bash
# Builds the cluster network pieces of make cluster-e2e from the Go module
# proxy, once per version, into $CLUSTER_CACHE (/var/cache/cricket-test), and
# prints their paths on stdout (progress on stderr):
#
#   flannel-<flannel>-<go>/flanneld   github.com/flannel-io/flannel (the daemon:
#                                     kube subnet manager, host-gw backend)
#   flannel-cni-<plugins>-<go>/flannel  the flannel CNI plugin, as it was in
#                                     github.com/containernetworking/plugins
#                                     (plugins/meta/flannel) before it moved to
#                                     github.com/flannel-io/cni-plugin, which
#                                     the module proxy does not serve (403)
#   crane-<ggcr>-<go>/crane           go-containerregistry's crane (pushes an
#                                     image archive into the test registry)
#
# Each is built in a module of its own (flannel's go.mod and the plugins'
# are not ours; their own requirements apply). test/kind/images.sh has the
# same small helper; it is not shared because images.sh hashes its own text
# into the kind node image's cache key.
set -euo pipefail

export PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
CACHE=${CLUSTER_CACHE:-/var/cache/cricket-test}
FLANNEL_VERSION=v0.28.10
# The last release of containernetworking/plugins with plugins/meta/flannel
# (v1.0.0 dropped it).
FLANNEL_CNI_VERSION=v0.9.1
# flannel v0.28.10 requires the Tencent Cloud VPC SDK at v1.3.188, which
# the module proxy refuses (403); flannel v0.28.4's v1.3.75 is served. Only
# flannel's tencent-vpc backend uses it (this cluster runs host-gw).
TENCENT_VPC=github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc
TENCENT_VPC_VERSION=v1.3.75
GOV=$(go env GOVERSION)
log() { echo "cluster/build.sh: $*" >&2; }

modbuild() { # out module version package [ldflags [replace...]]
	local out=$1 mod=$2 version=$3 pkg=$4 ldflags=${5:-} r
	shift 4; shift || true
	[ -x "$out" ] && return 0
	log "building $pkg@$version"
	local start=$SECONDS dir
	dir=$(mktemp -d /var/tmp/cluster-modbuild.XXXXXX)
	(
		cd "$dir"
		export GOFLAGS=-mod=mod GOWORK=off
		go mod init clusterbuild >/dev/null 2>&1
		for r in "$@"; do go mod edit -replace "$r"; done
		go get "$mod@$version" >/dev/null 2>&1
		mkdir -p "$(dirname "$out")"
		CGO_ENABLED=${CGO:-0} go build -trimpath -ldflags "$ldflags" -o "$out.tmp.$$" "$pkg" && mv "$out.tmp.$$" "$out"
	) >&2 || { rm -rf "$dir" "$out.tmp.$$"; log "building $pkg@$version failed"; return 1; }
	rm -rf "$dir"
	log "$pkg@$version built in $((SECONDS - start))s"
}
flanneld=$CACHE/flannel-$FLANNEL_VERSION-$GOV/flanneld
cni=$CACHE/flannel-cni-$FLANNEL_CNI_VERSION-$GOV/flannel
# flannel's own Makefile builds with cgo on amd64 (its UDP backend).
CGO=1 modbuild "$flanneld" github.com/flannel-io/flannel "$FLANNEL_VERSION" github.com/flannel-io/flannel \
	"-X github.com/flannel-io/flannel/pkg/version.Version=$FLANNEL_VERSION" \
	"$TENCENT_VPC=$TENCENT_VPC@$TENCENT_VPC_VERSION"
modbuild "$cni" github.com/containernetworking/plugins "$FLANNEL_CNI_VERSION" \
	github.com/containernetworking/plugins/plugins/meta/flannel
# crane pushes the CoreDNS image (test/kind/images.sh packs it) into the test
# registry; the version cricket's go.mod requires.
CRANE_VERSION=$(awk '$1 == "github.com/google/go-containerregistry" {print $2}' "$(dirname "$0")/../../go.mod")
crane=$CACHE/crane-$CRANE_VERSION-$GOV/crane
modbuild "$crane" github.com/google/go-containerregistry "$CRANE_VERSION" github.com/google/go-containerregistry/cmd/crane
echo "$flanneld"
echo "$cni"
echo "$crane"
