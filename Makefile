# The two commands: `make run` serves the product, `make test` runs the whole suite.
.PHONY: run run-temporal test lint bench
SHELL := /bin/bash

run:
	@scripts/run.sh

run-temporal:
	@scripts/run.sh --backend temporal

test:
	@scripts/test.sh

lint:
	@scripts/test.sh --lint-only

bench:
	@scripts/bench.sh
