#!/usr/bin/env bash
# Builds real Kubernetes binaries from the Go module proxy, once per
# Kubernetes and Go version, and prints the path of each on stdout, one per
# line, in the order asked (progress on stderr).
#
#   test/kubelet/build.sh [--cache DIR] [COMMAND...]
#
# COMMAND is a directory of k8s.io/kubernetes/cmd (kubelet, kubeadm, kubectl,
# kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy), or one
# of the test programs: e2e_node.test and e2e.test (`go test -c` of
# test/e2e_node and test/e2e), agnhost (test/images/agnhost, the image most
# e2e specs run; its porter's localhost.crt and localhost.key are copied
# beside it for test/images) and etcd (go.etcd.io/etcd/server/v3 at the version
# Kubernetes requires), ginkgo (the runner, for parallel specs); default:
# kubelet. The cache is $KUBELET_CACHE or /var/cache/cricket-test;
# every binary of one version lives in kubelet-<version>-<go version>/ (the
# name is kept from when the kubelet was the only one).
#
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, client-go,
# kubelet, cri-api, ...) with local paths, so `go build` of its commands
# fails from the module cache. test/kubelet/build/ is a module of its own
# (not part of cricket's) that requires k8s.io/kubernetes and replaces each
# of the 33 staging modules with its published v0.x release; its go.sum
# pins every dependency. About 9 minutes cold on 2 cores, instant when cached.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH=/usr/local/go/bin:$PATH
CACHE=${KUBELET_CACHE:-/var/cache/cricket-test}
while [ $# -gt 0 ]; do
	case $1 in
	--cache) CACHE=$2; shift 2 ;;
	-*) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || set -- kubelet
for cmd in "$@"; do
	case $cmd in
	kubelet | kubeadm | kubectl | kube-apiserver | kube-controller-manager | kube-scheduler | kube-proxy) ;;
	e2e_node.test | e2e.test | agnhost | etcd | ginkgo) ;;
	*) echo "build.sh: $cmd is not a command this script builds" >&2; exit 2 ;;
	esac
done

version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3} $1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2}' "$HERE/build/go.mod")
[ -n "$version" ] || { echo "build.sh: no k8s.io/kubernetes requirement in $HERE/build/go.mod" >&2; exit 1; }
key=$CACHE/kubelet-$version-$(go env GOVERSION)
# The version Kubernetes' own build stamps in (kubelet --version, the node's
# kubeletVersion, kubectl version).
minor=${version#v1.}
minor=${minor%%.*}
ldflags="-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1"
ldflags="$ldflags -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$version -X k8s.io/client-go/pkg/version.gitMajor=1"
ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitMinor=$minor"
for cmd in "$@"; do
	bin=$key/$cmd
	if [ ! -x "$bin" ]; then
		mkdir -p "$key"
		echo "building $cmd $version into $key (several minutes the first time)" >&2
		start=$(date +%s)
		# GOFLAGS: not the caller's (-mod=vendor or tags would break this module).
		case $cmd in
		e2e_node.test) gocmd=(test -c -vet=off) pkg=k8s.io/kubernetes/test/e2e_node ;;
		e2e.test) gocmd=(test -c -vet=off) pkg=k8s.io/kubernetes/test/e2e ;;
		agnhost) gocmd=(build) pkg=k8s.io/kubernetes/test/images/agnhost ;;
		etcd) gocmd=(build) pkg=go.etcd.io/etcd/server/v3 ;;
		ginkgo) gocmd=(build) pkg=github.com/onsi/ginkgo/v2/ginkgo ;;
		*) gocmd=(build) pkg=k8s.io/kubernetes/cmd/$cmd ;;
		esac
		# agnhost runs in images without a libc: static.
		(cd "$HERE/build" && CGO_ENABLED=$([ "$cmd" = agnhost ] && echo 0 || go env CGO_ENABLED) \
			GOWORK=off GOFLAGS=-buildvcs=false \
			go "${gocmd[@]}" -ldflags "$ldflags" -o "$bin.tmp.$$" "$pkg") >&2 || {
			rm -f "$bin.tmp.$$"
			echo "build.sh: building $cmd failed" >&2
			exit 1
		}
		mv "$bin.tmp.$$" "$bin"
		echo "built $cmd $version in $(($(date +%s) - start))s" >&2
	fi
	# agnhost's image carries the porter's TLS certificate and key
	# (test/images/agnhost/porter): beside the binary for test/images.
	if [ "$cmd" = agnhost ] && [ ! -f "$key/localhost.key" ]; then
		src=$(cd "$HERE/build" && GOWORK=off GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' k8s.io/kubernetes)/test/images/agnhost/porter
		cp "$src/localhost.crt" "$src/localhost.key" "$key/" || { echo "build.sh: no $src/localhost.{crt,key}" >&2; exit 1; }
		chmod 0644 "$key/localhost.crt" "$key/localhost.key"
	fi
	case $cmd in
	*.test | agnhost | ginkgo) ;;
	kubectl) "$bin" version --client >&2 || true ;;
	kubeadm) "$bin" version -o short >&2 || true ;;
	*) "$bin" --version >&2 || true ;;
	esac
	echo "$bin"
done
