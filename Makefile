# faultlab: `make run` starts the lab, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
export FAULTLAB_TOOLS ?= $(HOME)/.cache/faultlab/tools
export PATH := $(FAULTLAB_TOOLS)/bin:$(PATH)
export TESTCONTAINERS_RYUK_DISABLED := true
BIN := bin/faultlab
TOXIPROXY_CLI := $(GO) run github.com/Shopify/toxiproxy/v2/cmd/cli@v2.12.0
FUZZTIME ?= 10s
TEST_TIMEOUT ?= 40m

.PHONY: chaos soak bench-gateway screenshot console-screenshots run up build test test-unit lint vet fmt bench fuzz fuzz-seeds tools images observe toxics clean compose-up compose-chaos-up compose-down load soak report-screenshot

## run: build and start the lab (all five services, every hop through Toxiproxy)
run: build
	./$(BIN) up

up: run

## build: the static faultlab binary
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/faultlab

## tools: install or build the pinned external tools (promtool, prometheus, alertmanager, victoria-logs, filebeat, toxiproxy, etcd, kube-apiserver)
tools:
	bash scripts/tools.sh

## images: build the local container images (cached by content hash)
images: build
	bash scripts/images.sh

# Suites that measure latency and timing under real faults run one package
# at a time, so that they do not steal each other's two cores (cmd/faultlab
# runs scenarios through the CLI: beside deploy's compose and swarm stacks
# its steady-state checks failed).
TIMED := ./cmd/faultlab ./chaos/lab/... ./chaos/pglab/... ./chaos/console/... ./chaos/containerlab/... ./chaos/crash/... ./chaos/soak/... ./observability/e2e/...
TIMED_RE := /cmd/faultlab$$|/chaos/lab|/chaos/pglab|/chaos/console|/chaos/containerlab|/chaos/crash|/chaos/soak|/observability/e2e
# Other suites that start real processes (the lab, Toxiproxy, containers,
# Chromium, promtool, Filebeat, PostgreSQL). Like TIMED they run with -count=1: the test
# cache keys on Go files, not on the processes, images and tools they drive.
REAL := ./chaos/baseline ./deploy ./deploy/k8s ./observability ./internal/proc ./internal/store/pgtest ./shop
REAL_RE := /chaos/baseline$$|/deploy$$|/deploy/k8s$$|/observability$$|/internal/proc$$|/internal/store/pgtest$$|/shop$$

## test: every test: lint, unit, component, chaos (in-process and containers), promtool rules, compose validation, fuzz
test: lint tools images
	$(GO) test -race -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -Ev '$(TIMED_RE)|$(REAL_RE)')
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(REAL)
	$(GO) test -race -count=1 -p 1 -timeout $(TEST_TIMEOUT) $(TIMED)
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

## test-unit: the fast part of the suite (no containers, -short chaos)
test-unit:
	$(GO) test -race -short ./...

## lint: go vet and gofmt
lint: vet fmt

vet:
	$(GO) vet ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## bench: resilience stack vs bare client, and gateway vs plain reverse proxy
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./resilience/...

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME)

## observe: VictoriaLogs, Filebeat, Prometheus and Alertmanager beside a running `make run`
observe: tools
	bash scripts/observe.sh

## toxics: list the Toxiproxy proxies of a running lab
toxics:
	$(TOXIPROXY_CLI) list

compose-up: images
	docker-compose up -d

compose-chaos-up: images
	docker-compose -f docker-compose.yml -f docker-compose.chaos.yml up -d

compose-down:
	docker-compose -f docker-compose.yml -f docker-compose.chaos.yml down -v

## chaos: run SCENARIO (default payment-down) against a running `make run`, reports in ./reports
SCENARIO ?= payment-down
chaos: build
	./$(BIN) chaos run $(SCENARIO) --out reports

## soak: rotating faults on every hop under load, then the invariants
soak: build
	./$(BIN) chaos soak --duration 60s --rps 100 --seed 42

## bench-gateway: the gateway with all its policies vs a plain reverse proxy
bench-gateway: build
	./$(BIN) bench-gateway

## console-screenshots: refresh docs/img/console-*.png from the console test in headless Chromium (installed on demand)
console-screenshots:
	bash scripts/tools.sh chromium
	FAULTLAB_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/img $(GO) test -count=1 -run TestBrowserBreakerFlow ./chaos/console

## screenshot: render REPORT (an HTML chaos report) to PNG with headless Chromium (installed on demand)
screenshot:
	@[ -n "$(REPORT)" ] || { echo "make screenshot REPORT=reports/<scenario>-<time>.html"; exit 2; }
	bash scripts/tools.sh chromium
	bash scripts/screenshot.sh $(REPORT) $(basename $(REPORT)).png

clean:
	rm -rf bin reports
