# The two commands: `make run` serves the product, `make test` runs the whole suite.
.PHONY: run test lint bench
SHELL := /bin/bash

run:
	@scripts/run.sh

test:
	@scripts/test.sh

lint:
	@scripts/test.sh --lint-only

bench:
	@scripts/bench.sh
