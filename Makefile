# commentd — build, test and measure.
GO          ?= go
PKGS        ?= ./...
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT   ?= golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
COUNT       ?= 6
BENCHTIME   ?= 1s
FUZZTIME    ?= 10s
RESULTS     ?= results
DATA        ?= ./data

.PHONY: all build run test lint bench loadbench fuzz crash clean

all: lint test

build:
	$(GO) build -o bin/commentd ./cmd/commentd
	$(GO) build -o bin/commentbench ./cmd/commentbench

## run: the service on its embedded default (./data, 127.0.0.1:8080).
run:
	$(GO) run ./cmd/commentd serve --data $(DATA)

## test: vet, then every test with the race detector.
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 12m $(PKGS)

## lint: formatting, vet and staticcheck at a pinned version.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-clean:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

## bench: Go micro-benchmarks of every package (benchstat-ready), then a short load run with all ceilings.
bench: build
	mkdir -p $(RESULTS)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) $(PKGS) | tee $(RESULTS)/go-bench.txt
	$(GO) run $(BENCHSTAT) $(RESULTS)/go-bench.txt > $(RESULTS)/go-bench.benchstat.txt || true
	$(MAKE) loadbench

## loadbench: the load generator against a freshly started commentd, with its ceilings.
loadbench: build
	mkdir -p $(RESULTS)
	./bin/commentbench --spawn ./bin/commentd --scenario all --out $(RESULTS)

## fuzz: a short run of every fuzz target.
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1x $$pkg || exit 1; \
	  done; \
	done

## crash: the kill -9 tests with many more rounds than CI runs.
crash:
	COMMENTD_CRASH_ROUNDS=25 $(GO) test -race -count=1 -timeout 30m -run 'Crash' ./store/ ./cmd/commentd/

clean:
	rm -rf bin $(RESULTS)
