# wampd — every command the project needs. `make test` is THE test command:
# it installs what the tests need (Debian and npm packages) and runs every test.

GO ?= go
FUZZTIME ?= 60s

.PHONY: test deps lint unit run build bench fuzz

test: deps lint unit

# Test dependencies: Autobahn|Python (Debian), autobahn-js and wampy (npm, pinned).
deps:
	bash scripts/install-test-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v /testdata/)); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Unit, engine, network and end-to-end tests (real clients under tests/), race detector on.
# Fuzz targets replay their seed corpora here; long fuzzing is `make fuzz`.
unit:
	$(GO) test -race -count=1 -timeout 20m ./...

run:
	$(GO) run ./cmd/wampd

build:
	$(GO) build -o bin/wampd ./cmd/wampd

# Micro-benchmarks of the hot paths (see PERF.md for the figures and how to compare runs).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./codec ./engine ./netpoll

# Opt-in long fuzzing: each target for FUZZTIME.
fuzz:
	@for t in $$($(GO) test -list 'Fuzz.*' ./codec | grep ^Fuzz); do \
	  echo "== $$t"; $(GO) test ./codec -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) || exit 1; done
