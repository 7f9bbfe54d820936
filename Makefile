# wampd — every command the project needs. `make test` is THE test command:
# it installs what the tests need (Debian and npm packages) and runs every test.

GO ?= go
FUZZTIME ?= 60s

.PHONY: test deps lint unit run build bench fuzz soak compare

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
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./codec ./engine ./netpoll ./client ./bench

# Opt-in long fuzzing: every fuzz target of every package that has one
# (codec, netpoll, engine, fuzz...), FUZZTIME each. Not part of `make test`,
# which only replays the seed corpora.
FUZZPKGS ?= $(shell grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u)
fuzz:
	@for p in $(FUZZPKGS); do \
	  for t in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
	    echo "== $$p $$t ($(FUZZTIME))"; \
	    $(GO) test $$p -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s || exit 1; \
	  done; \
	done

# Opt-in soak: wampd built with -race, driven with mixed traffic for
# SOAKTIME (fuzz/soak_test.go), then checked for races, panics, unanswered
# calls, lingering sessions, and RSS/threads back near their warm level.
SOAKTIME ?= 10m
soak:
	$(GO) test -tags soak -run '^TestSoak$$' -count=1 -v -timeout 3h ./fuzz -soaktime $(SOAKTIME)

# Side-by-side load test of wampd and nexus (bench/compare.sh; results in bench/results/).
compare:
	bash bench/compare.sh
