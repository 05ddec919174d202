# Sourced by test/vm/run.sh for --suite selinux (and --shell --selinux):
# builds on the host what suites/selinux.sh runs in the SELinux node, into
# $STAGE:
#   tests/test_vm_selinux.test  `go test -c ./test/vm/selinux`: labels of
#                  pods, containers and volumes against the node's cricketd
#   repo/          the repository's tracked files (test/critest/run.sh runs
#                  from here)
#   critest/       critest, ginkgo, the critest harness, the registry and its
#                  stand-ins (test/critest/run.sh --prebuilt), for critest's
#                  SELinux specs, which critest registers only on a host
#                  with SELinux enabled
# shellcheck shell=bash

mkdir -p "$STAGE/tests" "$STAGE/critest" "$STAGE/repo"
(cd "$REPO" && go test -c -o "$STAGE/tests/test_vm_selinux.test" ./test/vm/selinux) || die "go test -c ./test/vm/selinux failed"
(cd "$REPO" && git ls-files -z | xargs -0 cp -P --parents -t "$STAGE/repo") || die "copying the repository failed"

# critest and ginkgo as test/critest/run.sh builds them, once, in its cache
# (built here directly: run.sh would also start a daemon on this host).
cri_tools=$(sed -n 's/^CRI_TOOLS_VERSION=//p' "$REPO/test/critest/run.sh")
critest_key=/var/cache/cricket-test/cri-tools-$cri_tools-$(go env GOVERSION)
if [ ! -x "$critest_key/critest" ] || [ ! -x "$critest_key/ginkgo" ]; then
	log "building critest $cri_tools into $critest_key"
	mkdir -p "$critest_key"
	cri_dir=$(cd "$WORK" && GOWORK=off GOFLAGS= go mod download -json "sigs.k8s.io/cri-tools@$cri_tools" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -d "$cri_dir" ] || die "go mod download sigs.k8s.io/cri-tools@$cri_tools gave no module directory"
	if [ ! -x "$critest_key/critest" ]; then
		(cd "$cri_dir" && GOWORK=off GOFLAGS= go test -c -o "$critest_key/critest.tmp.$$" ./cmd/critest) || die "building critest failed"
		mv "$critest_key/critest.tmp.$$" "$critest_key/critest"
	fi
	if [ ! -x "$critest_key/ginkgo" ]; then
		(cd "$cri_dir" && GOWORK=off GOFLAGS= go build -o "$critest_key/ginkgo.tmp.$$" github.com/onsi/ginkgo/v2/ginkgo) || die "building ginkgo failed"
		mv "$critest_key/ginkgo.tmp.$$" "$critest_key/ginkgo"
	fi
fi
cp "$critest_key/critest" "$STAGE/critest/"
[ -x "$critest_key/ginkgo" ] && cp "$critest_key/ginkgo" "$STAGE/critest/"
(cd "$REPO" && go build -o "$STAGE/critest/critest-harness" ./test/critest) || die "build test/critest failed"
cp "$STAGE/bin/images" "$STAGE/critest/images"
cp -r "$STAGE/standins" "$STAGE/critest/standins"
