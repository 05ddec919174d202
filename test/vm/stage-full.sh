# Sourced by test/vm/run.sh for --suite full: builds on the host what the
# full suites run in the node, into $STAGE:
#   repo/          the repository's tracked files (test binaries run in their
#                  package directory; test/critest/run.sh runs from here)
#   tests/*.test   `go test -c` binaries: the packages with root tests, the
#                  integration tests, the fault run and the kubelet e2e
#   critest/       critest, ginkgo, the critest harness, the registry and its
#                  stand-ins (test/critest/run.sh --prebuilt)
#   kubelet/       the kubelet test/kubelet/build.sh built, and checkpointctl
#                  (test/kubelet's checkpoint check reads the kubelet's
#                  archive with it), built from the Go module proxy
#   debs/          Debian packages the node lacks (sudo)
#   crun/crun      Debian's crun built with CRIU (test/vm/crun-criu.sh), which
#                  suites/full.sh installs over the node's /usr/bin/crun so
#                  that the crun handler can checkpoint; when it cannot be
#                  built the node keeps Debian's crun and the crun
#                  checkpoint tests skip, saying so
# shellcheck shell=bash

VM_ROOT_TEST_PKGS=${VM_ROOT_TEST_PKGS:-"pkg/cgroups pkg/stats pkg/runtime pkg/shim/shimserver cmd/cricketd/internal/daemon pkg/snapshot network"}

mkdir -p "$STAGE/repo"
(cd "$REPO" && git ls-files -z | xargs -0 cp -P --parents -t "$STAGE/repo") || die "copying the repository failed"
mkdir -p "$STAGE/tests" "$STAGE/critest" "$STAGE/kubelet"
for pkg in $VM_ROOT_TEST_PKGS test/integration test/fault test/kubelet; do
	name=$(echo "$pkg" | tr / _)
	(cd "$REPO" && go test -c -tags seccomp -o "$STAGE/tests/$name.test" "./$pkg") || die "go test -c ./$pkg failed"
done
printf '%s\n' $VM_ROOT_TEST_PKGS >"$STAGE/tests/root-packages"

# critest and ginkgo as test/critest/run.sh builds them, once, in its cache.
critest_key=/var/cache/cricket-test/cri-tools-v1.37.0-$(go env GOVERSION)
if [ ! -x "$critest_key/critest" ] || [ ! -x "$critest_key/ginkgo" ]; then
	log "building critest into $critest_key (a focus that matches nothing: build only)"
	"$REPO/test/critest/run.sh" --focus '^build-only-no-spec-matches$' --output "$WORK/critest-build" >/dev/null 2>&1 || true
	[ -x "$critest_key/critest" ] || die "critest was not built into $critest_key"
fi
cp "$critest_key/critest" "$STAGE/critest/"
[ -x "$critest_key/ginkgo" ] && cp "$critest_key/ginkgo" "$STAGE/critest/"
(cd "$REPO" && go build -o "$STAGE/critest/critest-harness" ./test/critest) || die "build test/critest failed"
cp "$STAGE/bin/images" "$STAGE/critest/images"
cp -r "$STAGE/standins" "$STAGE/critest/standins"

kubelet=$("$REPO/test/kubelet/build.sh") || die "test/kubelet/build.sh failed"
cp "$kubelet" "$STAGE/kubelet/kubelet"

cctl=$("$REPO/test/kubelet/checkpointctl/build.sh") || die "test/kubelet/checkpointctl/build.sh failed"
cp "$cctl" "$STAGE/kubelet/checkpointctl"

# sudo, which critest's AppArmor specs call (sudo apparmor_parser) and the
# node's image lacks: Debian's package, installed at the start of the full
# suite (debs/), rather than a rebuild of the image for every run.
debs=/var/cache/cricket-test/vm-debs
mkdir -p "$debs" "$STAGE/debs"
if ! ls "$debs"/sudo_*.deb >/dev/null 2>&1; then
	(cd "$debs" && apt-get download sudo >/dev/null) || die "apt-get download sudo failed"
fi
cp "$debs"/sudo_*.deb "$STAGE/debs/"

crun_criu=$("$REPO/test/vm/crun-criu.sh") && mkdir -p "$STAGE/crun" && cp "$crun_criu" "$STAGE/crun/crun" ||
	log "no crun with CRIU (test/vm/crun-criu.sh failed): the node keeps Debian's crun, built without CRIU"
