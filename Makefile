# The two commands: `make demo` runs the system, `make test` runs every test.
# Both set up what they need (the Temporal CLI, PostgreSQL) themselves.
# deploy/ is a module of its own (the compose checks and their Docker
# libraries stay out of the application's go.mod); test and lint visit it too.

GO ?= go
TEST_TIMEOUT ?= 25m
CHAOS_TIMEOUT ?= 20m

.PHONY: demo test chaos build unit lint bench scale fuzz clean

build:
	$(GO) build -o bin/ ./worker ./starter ./demo

demo: build
	@scripts/ensure-postgres.sh
	@TEMPORAL_CLI=$$(scripts/ensure-temporal.sh) bin/demo

# Every test: the packages and the end-to-end tests, then the chaos suite
# alone (it needs the machine to itself for its timings).
test:
	@scripts/ensure-postgres.sh
	@TEMPORAL_CLI=$$(scripts/ensure-temporal.sh) STRIPE_MOCK=$$(scripts/ensure-stripe-mock.sh) CHROMIUM=$$(scripts/ensure-chromium.sh) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -skip '^TestChaos$$' ./...
	cd deploy && $(GO) test -count=1 ./...
	@$(MAKE) --no-print-directory chaos

# The fault-injection suite (about 5 minutes, up to 15 when it fails): a
# database cut, worker kills, provider faults, then an independent check.
# CHAOS_PG_RESTART=1 also stops and starts the local PostgreSQL cluster; see
# e2e/chaos_test.go for the other settings.
chaos:
	@scripts/ensure-postgres.sh
	@TEMPORAL_CLI=$$(scripts/ensure-temporal.sh) $(GO) test -count=1 -timeout $(CHAOS_TIMEOUT) -run '^TestChaos$$' -v ./e2e

# Fast tests only: no Temporal dev server, still PostgreSQL.
unit:
	@scripts/ensure-postgres.sh
	STRIPE_MOCK=$$(scripts/ensure-stripe-mock.sh) $(GO) test -count=1 $$($(GO) list ./... | grep -v -e /e2e -e /bench)
	$(GO) test -count=1 -short ./bench # its smoke test starts a dev server
	cd deploy && $(GO) test -count=1 ./...

# A short run of every fuzz target (seed corpora in <package>/testdata/fuzz).
# FUZZTIME per target; longer runs: make fuzz FUZZTIME=5m.
FUZZTIME ?= 8s
FUZZ_TARGETS := account:FuzzApplication account:FuzzPayment account:FuzzUsage account:FuzzBudget \
	account:FuzzAbuseReport account:FuzzPromise account:FuzzStaffAction account:FuzzDecision \
	account:FuzzResolution account:FuzzSubscriptionSpec reports:FuzzCSVCell policy:FuzzLint

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; \
		echo "fuzz ./$$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done

bench:
	@scripts/ensure-postgres.sh
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

# The scale run (not part of test or CI, and it wants the machine to
# itself): N customers onboarded and paid on the bench's quiet policy, the
# worker's memory, the task queue's backlog and the billing burst's drain.
# make scale N=5000 for a quick one; see docs/benchmarks.md.
N ?= 100000
scale:
	@scripts/ensure-postgres.sh
	@TEMPORAL_CLI=$$(scripts/ensure-temporal.sh) $(GO) run ./bench scale -n $(N)

GOLANGCI_LINT_VERSION := v2.15.0

bin/golangci-lint:
	GOBIN=$(CURDIR)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: bin/golangci-lint
	gofmt -l . | (! grep .)
	$(GO) vet ./...
	bin/golangci-lint run ./...
	cd deploy && $(GO) vet ./... && ../bin/golangci-lint run ./...

clean:
	rm -rf bin .run
