#!/usr/bin/env bash
# README command 2: the whole test suite, as CI runs it: lint, unit tests
# (plain and under the race detector), a bounded fuzzing pass, build, root
# tests, integration tests against real daemons, conformance on every handler,
# a real kubelet running static pods, bounded parts of Kubernetes' node and
# cluster conformance suites, and a smoke run in the cgroup v2 +
# systemd + AppArmor test node (test/vm).
# Every daemon and registry a test needs is started by the test itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

hack/deps.sh
make lint
make test
make test-race
# A count, not a duration: Go 1.26's fuzz coordinator can report its own
# -fuzztime deadline as a failure ("context deadline exceeded", no failing
# input; go.dev/issue/75804, fixed in Go 1.27), as FuzzUnpack did in CI.
make fuzz FUZZTIME=${FUZZTIME:-10000x}
make build
make root-test
make integration
make critest CRITEST_HANDLERS="${CRITEST_HANDLERS:-cricket runc crun}"
make kubelet-e2e
# Kubernetes' own suites, bounded (issue 18): named [NodeConformance] specs
# of test/e2e_node (test/e2enode/smoke.txt), and a 3-node cluster with
# flannel, kube-proxy and CoreDNS, its functional checks, then named
# [Conformance] specs of test/e2e (test/cluster/smoke.txt). The full suites
# are `make node-e2e` and `make cluster-e2e`.
make node-e2e-smoke
make cluster-e2e-smoke
# The production-like node: cgroup v2 unified, systemd as PID 1, AppArmor, in
# a QEMU VM built once from apt (test/vm; bounded: about 15 minutes cold on a
# loaded 2-core machine, image build included; 4 to 6 warm).
make vm-smoke
