# rediskit: make demo | make test | make lint | make bench
GO            ?= go
GOLANGCI      ?= $(shell command -v golangci-lint 2>/dev/null || echo $(HOME)/go/bin/golangci-lint)
GOLANGCI_VER  ?= v2.15.0
TEST_TIMEOUT  ?= 9m
# Packages tested at once: most tests wait on real servers and timers, not on
# the CPU, so 4 packages on 2 cores take 5.7 min where the default 2 took 8.1.
TEST_PARALLEL ?= 4

.PHONY: all deps test test-short lint bench demo up down status tools

all: test

deps:
	@scripts/deps.sh

## test: every package against real Redis (single node, 3+3 cluster, sentinel) and PostgreSQL
test: deps
	$(GO) vet ./...
	$(GO) test ./... -count=1 -p $(TEST_PARALLEL) -timeout $(TEST_TIMEOUT)
	cd bench && $(GO) vet ./...

test-short: deps
	$(GO) test ./... -count=1 -short -timeout $(TEST_TIMEOUT)

tools:
	@test -x "$(GOLANGCI)" || GOFLAGS= $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VER)

## lint: golangci-lint (govet, staticcheck, errcheck, revive, goimports, depguard import rules)
lint: tools
	$(GOLANGCI) run ./...
	cd bench && $(GOLANGCI) run ./...

## bench: every area, side by side with the peers, one JSON line per case
bench: deps
	cd bench && $(GO) run . all -json

## demo: local cluster + PostgreSQL + the reference service under load
demo: deps
	@scripts/demo.sh

up:
	$(GO) run ./cmd/rediskit up
down:
	$(GO) run ./cmd/rediskit down
status:
	$(GO) run ./cmd/rediskit status
