# pinery: build, test, demo. `make help` lists the targets.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
FLEET    := $(CURDIR)/.fleet
PINERY   := bin/pinery
INV      := -i $(FLEET)/inventory.hcl

.PHONY: help build test unit e2e vet demo fleet-up fleet-down fleet-status docs fuzz clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/pinery
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(PINERY) ./cmd/pinery

vet: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

unit: ## unit tests only (no fleet)
	$(GO) test -count=1 ./...

# The fleet is shared by the e2e tests and the benchmark: both hold its lock.
FLEET_LOCK := /run/pinery-fleet.lock

test: vet build ## unit tests and end-to-end tests on the test fleet
	bash .ci/install-deps.sh
	flock -o $(FLEET_LOCK) sh -c 'bash .ci/fleet.sh up && PINERY_FLEET=$(FLEET) PINERY_E2E=1 $(GO) test -count=1 -timeout 30m ./...'

fleet-up: ## bring up the test fleet (real Debian boards; needs root)
	bash .ci/install-deps.sh
	bash .ci/fleet.sh up

fleet-down: ## remove the test fleet
	bash .ci/fleet.sh down

fleet-status: ## show the test fleet
	bash .ci/fleet.sh status

demo: build fleet-up ## plan and apply the example site on the fleet, then show it converged
	$(PINERY) plan $(INV) examples/site
	$(PINERY) apply $(INV) --auto-approve examples/site
	$(PINERY) plan $(INV) --detailed-exitcode examples/site

docs: ## regenerate the module and CLI reference pages from the code
	$(GO) run ./cmd/pinery docs modules docs/modules
	rm -f docs/cli/pinery*.md && $(GO) run ./cmd/pinery docs cli docs/cli

FUZZTIME ?= 60s
fuzz: ## run every fuzz target for FUZZTIME (make test runs their seed corpora only)
	@set -e; for p in $$($(GO) list ./...); do for t in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz' || true); do \
	  echo "$$p $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$p; done; done

# Release binaries: static, version-stamped, with checksums (docs/install.md).
PLATFORMS := linux/amd64 linux/arm64 linux/arm/7 darwin/amd64 darwin/arm64
.PHONY: release
release: ## cross-build static binaries for every platform into dist/, with SHA256SUMS
	rm -rf dist && mkdir -p dist
	@set -e; for p in $(PLATFORMS); do \
	  os=$${p%%/*}; rest=$${p#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; [ "$$arm" = "$$rest" ] && arm=; \
	  out=dist/pinery-$(VERSION)-$$os-$$arch$${arm:+v$$arm}; echo "build $$out"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$arm $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out ./cmd/pinery; \
	done
	$(GO) run ./cmd/pinery docs man dist/man && tar -C dist -czf dist/pinery-$(VERSION)-man.tar.gz man && rm -rf dist/man
	cd dist && sha256sum pinery-* > SHA256SUMS && cat SHA256SUMS

clean: ## remove build output
	rm -rf bin dist

# Benchmark (bench/, docs/performance.md): pinery side by side with the OpenSSH floor, Ansible,
# pyinfra and salt-ssh on the same hosts, in one run. Long; needs root. Never part of `make test`.
# The fleet is resized to 24 hosts under the usage lock and left in its default shape afterwards.
BENCH       := python3 bench/bench.py
BENCH_FLEET := FLEET_AMD64=23 FLEET_ARM64=1 FLEET_EXTRA_AMD64=0
.PHONY: bench bench-quick bench-sim bench-report
bench: build ## full benchmark (hours): 24-host fleet + 200/500 simulated hosts, all peers; rewrites docs/performance.md
	bash .ci/install-deps.sh
	$(BENCH) setup
	flock -o $(FLEET_LOCK) sh -c '$(BENCH_FLEET) bash .ci/fleet.sh up && $(BENCH) run $(BENCH_ARGS); rc=$$?; bash .ci/fleet.sh up; exit $$rc'
	$(BENCH) report

bench-quick: build ## quick benchmark for development: current fleet and 50 simulated hosts, pinery + floor, 3 runs
	flock -o $(FLEET_LOCK) $(BENCH) run --tools pinery,floor --runs 3 --sim 50 --out bench/results/tmp/quick.json
	$(GO) test -run '^$$' -bench . -benchtime 5x ./bench ./engine/...

bench-sim: build ## W4 only (simulated hosts on loopback, no fleet): pinery, floor and the peers
	$(BENCH) run --workloads W4 $(BENCH_ARGS)

bench-report: ## regenerate docs/performance.md from bench/results/*.json
	$(BENCH) report
