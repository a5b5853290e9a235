# The two commands a new user runs: `make run` and `make test`.
GO      ?= go
PKGS    ?= ./...
TIMEOUT ?= 45m

.PHONY: run test test-deps vet fmt-check tidy-check build bench docker clean

## run: the gateway on embedded SQLite with the demo configuration and a local sandbox
run:
	$(GO) run -tags demo ./cmd/wasl demo

## test: everything — vet, gofmt, the race-enabled suite incl. PostgreSQL, Dovecot and SMTP peers
test: test-deps vet fmt-check tidy-check
	$(GO) test -race -timeout $(TIMEOUT) $(PKGS)

## test-deps: install the real peers the tests run against (Dovecot, Postfix's smtp-sink, PostgreSQL)
test-deps:
	@scripts/test-deps.sh

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags demo ./cmd/wasl

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

docker:
	docker build -t wasl:dev .

clean:
	rm -rf bin data
