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
	flock -o $(FLEET_LOCK) sh -c 'bash .ci/fleet.sh up && PINERY_FLEET=$(FLEET) PINERY_E2E=1 $(GO) test -count=1 -timeout 60m ./...'

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

# pinery's own .deb, built by pinery's own package pipeline: each architecture's
# tree (static binary, man pages, completions, copyright) is staged under dist/deb/
# and packaged by the build module on this machine (.ci/deb, a local-connection
# site; as root, like any builder). The Debian version comes from git describe:
# v1.2.3 gives 1.2.3, v1.2.3-4-gabc gives 1.2.3+4.gabc, an untagged tree
# 0.0~gitCOMMITDATE.COMMIT (+dirty when it has uncommitted changes).
DEB_ARCHS   ?= amd64 arm64 armhf
DEB_VERSION ?= $(shell v='$(VERSION)'; case "$$v" in (v[0-9]*) echo "$${v\#v}" | sed -e 's/-\([0-9]*\)-g/+\1.g/' -e 's/-dirty$$/+dirty/';; \
  (*) echo "0.0~git$$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null || echo 0).$$v" | sed 's/-dirty$$/+dirty/';; esac)
DEB_STAGE   ?= $(CURDIR)/dist/deb
DEB_OUT     ?= $(CURDIR)/dist
deb_comma   := ,
deb_empty   :=
deb_space   := $(deb_empty) $(deb_empty)
.PHONY: deb
deb: build ## build dist/pinery_VERSION_ARCH.deb (DEB_OUT) for DEB_ARCHS (amd64 arm64 armhf) with pinery's own package pipeline
	rm -rf $(DEB_STAGE) && mkdir -p $(DEB_STAGE)/common/usr/share/man/man1 $(DEB_STAGE)/site
	$(PINERY) docs man $(DEB_STAGE)/common/usr/share/man/man1 >/dev/null && gzip -9n $(DEB_STAGE)/common/usr/share/man/man1/*.1
	install -d $(DEB_STAGE)/common/usr/share/bash-completion/completions $(DEB_STAGE)/common/usr/share/zsh/vendor-completions \
	  $(DEB_STAGE)/common/usr/share/fish/vendor_completions.d $(DEB_STAGE)/common/usr/share/doc/pinery
	$(PINERY) completion bash > $(DEB_STAGE)/common/usr/share/bash-completion/completions/pinery
	$(PINERY) completion zsh > $(DEB_STAGE)/common/usr/share/zsh/vendor-completions/_pinery
	$(PINERY) completion fish > $(DEB_STAGE)/common/usr/share/fish/vendor_completions.d/pinery.fish
	install -m 0644 .ci/deb/copyright $(DEB_STAGE)/common/usr/share/doc/pinery/copyright
	@set -e; for a in $(DEB_ARCHS); do \
	  case $$a in amd64) g=amd64 arm=;; arm64) g=arm64 arm=;; armhf) g=arm arm=7;; *) echo "unknown DEB_ARCHS entry $$a"; exit 1;; esac; \
	  s=$(DEB_STAGE)/stage/$$a; mkdir -p $$s && cp -a $(DEB_STAGE)/common/. $$s/; echo "build $$s/usr/bin/pinery"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$g GOARM=$$arm $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$s/usr/bin/pinery ./cmd/pinery; \
	done
	chmod -R u=rwX,go=rX $(DEB_STAGE)/stage
	cp .ci/deb/main.hcl $(DEB_STAGE)/site/
	$(PINERY) apply -i .ci/deb/inventory.hcl --auto-approve --var version=$(DEB_VERSION) \
	  --var stage=$(DEB_STAGE)/stage --var output=$(DEB_OUT) \
	  --var 'archs=[$(subst $(deb_space),$(deb_comma),$(patsubst %,"%",$(strip $(DEB_ARCHS))))]' $(DEB_STAGE)/site
	@ls -l $(DEB_OUT)/pinery_*.deb

# Scale (bench/scale.py, issue 10): 250 to 2,000 simulated hosts on loopback (push), 2,000 pull
# reports into a throwaway PostgreSQL, local pull runs. No fleet; needs root; ~20 minutes.
.PHONY: bench-scale
bench-scale: build ## plan/apply on 250-2,000 simulated hosts, report ingestion and pull runs at scale; updates docs/performance.md
	python3 bench/scale.py run $(BENCH_SCALE_ARGS)
	$(BENCH) report
