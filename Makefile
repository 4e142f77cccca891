# ecapi — the two commands of the README's quick start are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/ecapi
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE ?= $(shell date -u +%Y-%m-%d_%H:%M:%S)
LDFLAGS := -s -w \
	-X github.com/ecapi/ecapi/internal/build.Version=$(VERSION) \
	-X github.com/ecapi/ecapi/internal/build.Commit=$(COMMIT) \
	-X github.com/ecapi/ecapi/internal/build.Date=$(DATE)

.PHONY: build run test test-long testenv generate check-generated release-check snapshot bench bench-cli fmt vet

build: ## build bin/ecapi
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/ecapi

testenv: ## build (once, cached outside the repo) the real kube-apiserver and etcd
	@bash scripts/testenv.sh >/dev/null

run: testenv ## quick start: real control plane + ecapi serve on 127.0.0.1:30081
	bash scripts/dev-cluster.sh

test: testenv ## vet, unit and integration tests against a real kube-apiserver
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	KUBEBUILDER_ASSETS=$$(bash scripts/testenv.sh) $(GO) test -race -count=1 -timeout 20m ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

bench-cli: testenv ## hyperfine: `ecapi nodes` vs `kubectl get nodes` on 1 000 nodes, and `ecapi --help`
	command -v hyperfine >/dev/null || apt-get install -y hyperfine
	KUBEBUILDER_ASSETS=$$(bash scripts/testenv.sh) $(GO) test -tags measure -count=1 -run TestMeasureNodesCLI -v ./internal/e2e/

bench: testenv ## side-by-side benchmark report: /v1/nodes, /v1/health, join-bundle; writes docs/benchmarks.md
	bash scripts/bench.sh

generate: ## regenerate completions/ and man/ from the command tree
	$(GO) run ./internal/gendocs

check-generated: ## fail when completions/ or man/ drift from the code
	bash scripts/check-generated.sh

release-check: ## validate .goreleaser.yaml
	GOFLAGS= $(GO) run github.com/goreleaser/goreleaser/v2@v2.17.0 check

snapshot: ## archives and deb/rpm into dist/, nothing published
	GOFLAGS= $(GO) run github.com/goreleaser/goreleaser/v2@v2.17.0 release --snapshot --clean --skip=sign

test-long: testenv ## load suite (~2 min): 200 mixed clients for 60 s, 50 concurrent bundle downloads with bounded RSS, wrong-password storm with /v1/health p99
	KUBEBUILDER_ASSETS=$$(bash scripts/testenv.sh) $(GO) test -tags long -count=1 -timeout 20m -v ./internal/loadtest/
