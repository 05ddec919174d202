#!/bin/bash
# Builds the offline kind node image: no kindest/node, nothing but Debian's
# apt and the Go module proxy. Prints the path of the image's tar (a root
# filesystem for `docker import`, see IMPORT_CHANGES) on stdout; progress on
# stderr. Every piece is cached under $KIND_CACHE (/var/cache/cricket-test)
# keyed on its versions:
#
#   kind-rootfs-<hash>.tar      Debian 12 (bookworm) from this machine's apt
#                               sources by mmdebstrap: systemd, iptables,
#                               nftables, conntrack, iproute2, the CNI plugins
#                               (containernetworking-plugins), kmod, ...
#   kubelet-<k8s>-<go>/         kubelet, kubeadm, kubectl (test/kubelet/build.sh)
#   kind-<kind>-<go>/           kind itself, whose images/base files (the
#                               entrypoint, /kind/bin, the kubelet unit and
#                               sysctls) the node gets from the module cache
#   crictl-<cri-tools>-<go>/    crictl
#   kind-cp-images-<hash>/      the control-plane images (test/kind/images.sh),
#                               copied to /kind/images and imported into
#                               cricketd at boot by cricket-preload.service
#   kind-node-<hash>.tar        the node image: all of the above, cricketd and
#                               cricket-shim from bin/ (make build), and the
#                               same Cricket files in the same places as
#                               deploy/kind/Dockerfile puts them
#
#   test/kind/node-image.sh [--rootfs-only]
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
CACHE=${KIND_CACHE:-/var/cache/cricket-test}
KIND_VERSION=v0.33.0
CRI_TOOLS_VERSION=v1.37.0
GOV=$(go env GOVERSION)
# The node's packages: what kind's base image installs that a Cricket node
# uses (no containerd, fuse-overlayfs, nfs or iscsi), and Debian's CNI
# plugins.
PACKAGES=systemd,systemd-sysv,dbus,iptables,nftables,iproute2,conntrack,ethtool,util-linux,mount,kmod,libseccomp2,ca-certificates,procps,bash,containernetworking-plugins,socat,e2fsprogs
SOURCES=/etc/apt/sources.list.d/debian.sources

log() { echo "node-image.sh: $*" >&2; }
hash() { sha256sum | cut -c1-12; }
mkdir -p "$CACHE"

# rootfs builds the Debian root filesystem once per package list and apt
# sources.
rootfs() {
	local key out
	key=$( { echo "$PACKAGES"; cat "$SOURCES"; mmdebstrap --version; } | hash)
	out=$CACHE/kind-rootfs-$key.tar
	if [ ! -s "$out" ]; then
		log "building the Debian 12 root filesystem ($out)"
		local start=$SECONDS
		mmdebstrap --quiet --variant=minbase --format=tar --include="$PACKAGES" \
			--dpkgopt='path-exclude=/usr/share/{doc,man,locale}/*' \
			bookworm "$out.tmp.$$" "$SOURCES" >&2
		mv "$out.tmp.$$" "$out"
		log "root filesystem built in $((SECONDS - start))s"
	fi
	echo "$out"
}

# gobin builds a Go command from the module proxy into a versioned cache dir.
gobin() { # dir module@version
	local dir=$CACHE/$1 bin
	bin=$dir/$(basename "${2%@*}")
	if [ ! -x "$bin" ]; then
		log "building $2"
		local start=$SECONDS
		(cd /tmp && GOFLAGS=-mod=mod GOBIN="$dir" go install "$2") >&2
		log "$2 built in $((SECONDS - start))s"
	fi
	echo "$bin"
}

[ "${1:-}" = --rootfs-only ] && { rootfs; exit 0; }

base=$(rootfs)
k8s=$("$repo/test/kubelet/build.sh" kubelet kubeadm kubectl)
kubelet=$(sed -n 1p <<<"$k8s") kubeadm=$(sed -n 2p <<<"$k8s") kubectl=$(sed -n 3p <<<"$k8s")
k8s_version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3} $1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2}' "$repo/test/kubelet/build/go.mod")
[ -n "$k8s_version" ] || { echo "$(basename "$0"): no k8s.io/kubernetes requirement in test/kubelet/build/go.mod" >&2; exit 1; }
kind=$(gobin "kind-$KIND_VERSION-$GOV" "sigs.k8s.io/kind@$KIND_VERSION")
crictl=$(gobin "crictl-$CRI_TOOLS_VERSION-$GOV" "sigs.k8s.io/cri-tools/cmd/crictl@$CRI_TOOLS_VERSION")
kindsrc=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
images=$("$repo/test/kind/images.sh")
[ -x "$repo/bin/cricketd" ] && [ -x "$repo/bin/cricket-shim" ] || { log "bin/cricketd missing: run make build"; exit 1; }

key=$( {
	basename "$base"; echo "$k8s_version $KIND_VERSION $CRI_TOOLS_VERSION $GOV"
	sha256sum "$repo/bin/cricketd" "$repo/bin/cricket-shim" "$kubelet" "$kubeadm" "$kubectl" "$crictl"
	basename "$images"
	cat "$0" "$repo"/test/kind/files/* "$repo/deploy/cricketd.service" "$repo/deploy/kind/cricket.toml" "$repo/deploy/crictl.yaml"
} | hash)
out=$CACHE/kind-node-$key.tar
if [ -s "$out" ]; then
	echo "$out"
	exit 0
fi
log "assembling the node image ($out)"
start=$SECONDS
stage=$(mktemp -d /var/tmp/kind-node.XXXXXX)
trap 'rm -rf "$stage"' EXIT
tar -C "$stage" -xf "$base"
files=$kindsrc/images/base/files
# kind's node contract: its entrypoint and helpers, the kubelet unit and its
# drop-ins, sysctls; not containerd's unit or configuration.
install -m 0755 "$files/usr/local/bin/entrypoint" "$files/usr/local/bin/clean-install" "$stage/usr/local/bin/"
mkdir -p "$stage/kind/bin" "$stage/kind/manifests" "$stage/etc/systemd/system/kubelet.service.d" "$stage/etc/kubernetes/manifests"
install -m 0755 "$files"/kind/bin/*.sh "$stage/kind/bin/"
install -m 0644 "$files"/etc/sysctl.d/* "$stage/etc/sysctl.d/"
install -m 0644 "$files/etc/systemd/system/kubelet.service" "$files/etc/systemd/system/kubelet.slice" \
	"$files/etc/systemd/system/undo-mount-hacks.service" "$stage/etc/systemd/system/"
install -m 0644 "$files"/etc/systemd/system/kubelet.service.d/*.conf "$stage/etc/systemd/system/kubelet.service.d/"
install -m 0755 "$repo/test/kind/files/fake-kernel-tunables.sh" "$stage/kind/bin/"
install -m 0644 "$repo/test/kind/files/12-fake-kernel-tunables.conf" "$stage/etc/systemd/system/kubelet.service.d/"
echo "KUBELET_EXTRA_ARGS=--runtime-cgroups=/system.slice/cricketd.service" >"$stage/etc/default/kubelet"
echo "$k8s_version" >"$stage/kind/version"
install -m 0755 "$kubelet" "$kubeadm" "$kubectl" "$stage/usr/bin/"
install -m 0755 "$crictl" "$stage/usr/local/bin/"
# Debian's CNI plugins live in /usr/lib/cni; cricket.toml and kubelet look in /opt/cni/bin.
mkdir -p "$stage/opt/cni/bin"
for p in "$stage"/usr/lib/cni/*; do ln -sf "/usr/lib/cni/$(basename "$p")" "$stage/opt/cni/bin/"; done
# The Cricket files, where deploy/kind/Dockerfile puts them.
install -m 0755 "$repo/bin/cricketd" "$repo/bin/cricket-shim" "$stage/usr/local/bin/"
install -m 0644 "$repo/deploy/cricketd.service" "$stage/etc/systemd/system/cricketd.service"
install -D -m 0644 "$repo/deploy/kind/cricket.toml" "$stage/etc/cricket/cricket.toml"
install -m 0644 "$repo/deploy/crictl.yaml" "$stage/etc/crictl.yaml"
# The control-plane images, imported at boot (see cricket-preload.service).
mkdir -p "$stage/kind/images"
cp "$images"/*.tar "$stage/kind/images/"
install -m 0644 "$repo/test/kind/files/cricket-preload.service" "$stage/etc/systemd/system/"
# systemd as a container's init, as kind's base image sets it up.
find "$stage/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
rm -f "$stage"/lib/systemd/system/multi-user.target.wants/* "$stage"/etc/systemd/system/*.wants/* \
	"$stage"/lib/systemd/system/local-fs.target.wants/* "$stage"/lib/systemd/system/sockets.target.wants/*udev* \
	"$stage"/lib/systemd/system/sockets.target.wants/*initctl* "$stage"/lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >>"$stage/etc/systemd/journald.conf"
ln -sf /usr/lib/systemd/systemd "$stage/sbin/init"
systemctl --root="$stage" enable kubelet.service cricketd.service cricket-preload.service undo-mount-hacks.service >&2
systemctl --root="$stage" mask systemd-binfmt.service >&2
tar -C "$stage" --numeric-owner -cf "$out.tmp.$$" .
mv "$out.tmp.$$" "$out"
log "node image assembled in $((SECONDS - start))s"
echo "$out"
