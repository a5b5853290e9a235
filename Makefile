# The two commands a new user runs: `make run` and `make test`.
GO      ?= go
PKGS    ?= ./...
TIMEOUT ?= 45m

.PHONY: run test test-deps checks vet fmt-check tidy-check build bench bench-load docker clean

## run: the gateway on embedded SQLite with the demo configuration and a local sandbox
run:
	$(GO) run -tags demo ./cmd/wasl demo

## test: everything — gofmt, go.mod tidy, vet, the race-enabled suite incl. PostgreSQL, Dovecot and SMTP peers
# The peers install (network, disk) while the checks compile (CPU); the suite
# starts when both are done.
test:
	@$(MAKE) --no-print-directory -j2 test-deps checks
	$(GO) test -race -timeout $(TIMEOUT) $(PKGS)
	$(GO) test -count=1 -run 'Clinc150' ./classify   # accuracy, skipped under -race (minutes there)

checks:
	@$(MAKE) --no-print-directory fmt-check tidy-check vet

## test-deps: install the real peers the tests run against (Dovecot, Postfix's smtp-sink, PostgreSQL)
test-deps:
	@scripts/test-deps.sh

# vet compiles as the shipped binary is built (no cgo, -trimpath), so the
# e2e tests' build of the binary reuses what vet compiled.
vet:
	CGO_ENABLED=0 GOFLAGS=-trimpath $(GO) vet $(PKGS)
	CGO_ENABLED=0 GOFLAGS=-trimpath $(GO) vet -tags demo ./cmd/wasl

## tidy-check: go.mod and go.sum must be what `go mod tidy` makes of them
tidy-check:
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run go mod tidy and commit (go mod tidy -diff shows the change)"; exit 1; }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## build: the static binary
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/wasl ./cmd/wasl

## bench: classifier and pipeline benchmarks
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./classify/ ./router/

## bench-load: the load benchmark against bare baselines (minutes; BENCHMARKS.md, sizes in e2e/load_bench_test.go)
bench-load:
	WASL_BENCH_LOAD=1 $(GO) test -count=1 -v -timeout 90m -run '^TestLoadBenchmark$$' ./e2e

docker:
	docker build -t wasl:dev .

clean:
	rm -rf bin data
