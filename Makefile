# Cricket — a Kubernetes CRI container runtime.
# `make help` lists the targets. CI order: lint, test, test-race, build, root-test,
# integration, critest (hack/test.sh).

GO        ?= go
GO_TAGS   ?= seccomp
VERSION   ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || echo "v0.1.0-dev+$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)")
LDFLAGS   := -X main.buildVersion=$(VERSION)
BIN       := $(CURDIR)/bin
# A duration can end a healthy run with "context deadline exceeded" on Go
# 1.26 (go.dev/issue/75804); CI gives a count (hack/test.sh).
FUZZTIME  ?= 30s
# Minimizing each new interesting input for the default 60 s starves the
# slower targets (FuzzUnpack) of executions.
FUZZMINTIME ?= 100x
ROOT_ENV  := CRICKET_ROOT_TESTS=1
# CONVENTIONS.md: keep cyclomatic complexity under 30 (tests included).
GOCYCLO_MAX ?= 30

.DEFAULT_GOAL := help
.PHONY: help build install test test-race root-test integration critest kubelet-e2e kind-e2e cluster-e2e cluster-e2e-smoke node-e2e node-e2e-smoke fault vm-smoke vm-test vm-shell vm-selinux bench bench-compare lint fuzz clean

help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/cricketd and its per-pod shim bin/cricket-shim (cgo, libseccomp).
	$(GO) build -tags '$(GO_TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/cricketd ./cmd/cricketd
	$(GO) build -tags '$(GO_TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/cricket-shim ./cmd/cricket-shim

install: build ## Install cricketd and cricket-shim (found next to cricketd) to /usr/local/bin.
	install -m 0755 $(BIN)/cricket-shim /usr/local/bin/cricket-shim
	install -m 0755 $(BIN)/cricketd /usr/local/bin/cricketd

test: ## Unit tests; no root needed (root tests skip).
	$(GO) test -tags '$(GO_TAGS)' ./...

test-race: ## Unit tests with the race detector.
	$(GO) test -race -tags '$(GO_TAGS)' ./...

root-test: ## Package tests that need root (mounts, namespaces, cgroups).
	$(ROOT_ENV) $(GO) test -tags '$(GO_TAGS)' -count=1 -p 1 -timeout 20m $$($(GO) list ./... | grep -v /test/integration)

integration: build ## Integration tests against real cricketd daemons and crictl.
	$(ROOT_ENV) CRICKETD_BIN=$(BIN)/cricketd $(GO) test -tags '$(GO_TAGS)' -count=1 -p 1 -timeout 40m ./test/integration/...

critest: ## critest per runtime handler: --strict-skips, and each handler held to its count in test/critest/expected.txt (CRITEST_CONTEXT=vm for test/vm's).
	@$(MAKE) --no-print-directory build
	test/critest/run.sh --cricketd $(BIN)/cricketd --handlers "$(or $(CRITEST_HANDLERS),cricket)" --strict-skips

kind-e2e: build ## A kind cluster (1 control plane, 2 workers) of offline-built node images running cricketd, under a dockerd of its own (test/kind).
	test/kind/e2e.sh

kubelet-e2e: build ## A real kubelet (v1.37, built once into /var/cache/cricket-test) runs static pods on cricketd.
	@kubelet=$$(test/kubelet/build.sh) && \
	$(ROOT_ENV) CRICKETD_BIN=$(BIN)/cricketd KUBELET_BIN=$$kubelet KUBELET_E2E_OUTPUT=$(CURDIR)/_output/kubelet-e2e \
	$(GO) test -tags '$(GO_TAGS)' -count=1 -v -timeout 30m ./test/kubelet/

# A cluster of 1 control plane and 3 nodes on this machine, each node its own
# netns and mount namespace (cricketd or containerd, kubelet, kube-proxy,
# flanneld), CoreDNS; the functional checks, then e2e.test [Conformance] on
# CLUSTER_RUNTIME (cricket or containerd). test/cluster/README.md.
CLUSTER_RUNTIME ?= cricket
CLUSTER_FLAGS   ?=
cluster-e2e: build ## A 3-node cluster in network namespaces (flannel, kube-proxy, CoreDNS), its checks, then e2e.test [Conformance] on CLUSTER_RUNTIME (cricket; containerd). Root.
	test/cluster/run.sh --runtime $(CLUSTER_RUNTIME) --cricketd $(BIN)/cricketd $(CLUSTER_FLAGS)

cluster-e2e-smoke: build ## cluster-e2e with the conformance specs named in test/cluster/smoke.txt only. Root.
	test/cluster/run.sh --runtime $(CLUSTER_RUNTIME) --cricketd $(BIN)/cricketd --focus-file $(CURDIR)/test/cluster/smoke.txt $(CLUSTER_FLAGS)

# Node conformance: Kubernetes' test/e2e_node [NodeConformance] specs
# (v1.37.2, its own etcd, kube-apiserver and kubelet) on E2ENODE_RUNTIME
# (cricket or containerd). test/e2enode/README.md.
E2ENODE_RUNTIME ?= cricket
E2ENODE_FLAGS   ?=

node-e2e: build ## Kubernetes' node conformance suite ([NodeConformance] of test/e2e_node v1.37.2) on E2ENODE_RUNTIME (cricket; containerd). Root.
	test/e2enode/run.sh --runtime $(E2ENODE_RUNTIME) --cricketd $(BIN)/cricketd $(E2ENODE_FLAGS)

node-e2e-smoke: build ## A bounded part of node-e2e: the specs named in test/e2enode/smoke.txt. Root.
	test/e2enode/run.sh --runtime $(E2ENODE_RUNTIME) --cricketd $(BIN)/cricketd --focus-file $(CURDIR)/test/e2enode/smoke.txt $(E2ENODE_FLAGS)

fault: build ## Fault injection: 300 pod lifecycles, 20 in flight, cricketd and shims SIGKILLed.
	$(ROOT_ENV) CRICKETD_BIN=$(BIN)/cricketd CRICKET_FAULT_LIFECYCLES=$(or $(FAULT_LIFECYCLES),300) \
	  CRICKET_FAULT_INFLIGHT=$(or $(FAULT_INFLIGHT),20) \
	  $(GO) test -tags '$(GO_TAGS)' -count=1 -v -timeout 60m -run '^TestFault$$' ./test/fault/

vm-smoke: ## test/vm: boot the cgroup v2 + systemd + AppArmor node (QEMU, built once) and run the bounded smoke. Root.
	test/vm/run.sh --suite smoke

vm-test: ## test/vm: the full suites (critest per handler, integration, fault, kubelet e2e) in the VM node; ~100 min cold, ~65 warm under TCG. Root.
	test/vm/run.sh --suite full

vm-shell: ## test/vm: boot the node with a root shell on the serial console (Ctrl-A X quits). Root.
	test/vm/run.sh --shell

vm-selinux: ## test/vm: the node with SELinux enforcing (built once from the default one): labels of pods, containers, volumes; critest's SELinux specs. Root.
	test/vm/run.sh --suite selinux

BENCH_OUT ?= $(CURDIR)/_output/bench

bench: build ## Benchmarks (figures, never pass/fail): pod start, containers, exec, density, critest --benchmark, pulls. Root.
	@hack/deps.sh
	@command -v mmdebstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
	@mkdir -p $(BENCH_OUT)
	bash -o pipefail -c '$(GO) run ./test/bench/cri -cricketd $(BIN)/cricketd -json $(BENCH_OUT)/bench.json $(BENCH_FLAGS) | tee $(BENCH_OUT)/bench.txt'

bench-compare: build ## Same workloads side by side with containerd v2, both on runc built at the version of Cricket's libcontainer (built once into /var/cache/cricket-bench), 5 runs: medians, spreads, ratios and docs/bench-latency.png. Root.
	@hack/deps.sh
	@command -v mmdebstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
	@mkdir -p $(BENCH_OUT)
	bash -o pipefail -c '$(GO) run ./test/bench/cri -cricketd $(BIN)/cricketd -compare -plot $(CURDIR)/docs/bench-latency.png -json $(BENCH_OUT)/bench-compare.json $(BENCH_FLAGS) | tee $(BENCH_OUT)/bench-compare.txt'

lint: ## gofmt, go vet, cyclomatic complexity (gocyclo, GOCYCLO_MAX), go.mod tidy, no pipe into grep -q under pipefail.
	@hack/lint-pipes.sh
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum not tidy: run go mod tidy"; exit 1; }
	$(GO) vet -tags '$(GO_TAGS)' ./...
	@out=$$($(GO) tool gocyclo -over $(GOCYCLO_MAX) .); if [ -n "$$out" ]; then echo "cyclomatic complexity over $(GOCYCLO_MAX) (split these functions):"; echo "$$out"; exit 1; fi

fuzz: ## Run every fuzz target for FUZZTIME each.
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -tags '$(GO_TAGS)' -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -tags '$(GO_TAGS)' -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) $$pkg || exit 1; \
	  done; \
	done

clean: ## Remove build output.
	rm -rf $(BIN)
