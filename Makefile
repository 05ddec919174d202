# Cricket — a Kubernetes CRI container runtime.
# `make help` lists the targets. CI order: lint, test, build, root-test,
# integration, critest (hack/test.sh).

GO        ?= go
GO_TAGS   ?= seccomp
VERSION   ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || echo "v0.1.0-dev+$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)")
LDFLAGS   := -X main.buildVersion=$(VERSION)
BIN       := $(CURDIR)/bin
FUZZTIME  ?= 30s
ROOT_ENV  := CRICKET_ROOT_TESTS=1

.DEFAULT_GOAL := help
.PHONY: help build install test test-race root-test integration critest bench lint fuzz clean

help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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

critest: ## critest conformance suite against cricketd, per runtime handler.
	@$(MAKE) --no-print-directory build
	test/critest/run.sh --cricketd $(BIN)/cricketd --handlers "$(or $(CRITEST_HANDLERS),cricket)"

bench: ## Benchmarks (figures, never pass/fail): image pull + unpack throughput.
	$(GO) run ./test/bench/pull -size-mb 256 -layers 8 -runs 5

lint: ## gofmt and go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags '$(GO_TAGS)' ./...

fuzz: ## Run every fuzz target for FUZZTIME each.
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean: ## Remove build output.
	rm -rf $(BIN)
