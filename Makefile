# The two commands: `make run` serves the product, `make test` runs the whole suite.
.PHONY: run run-temporal test lint bench fuzz faults
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

# The schemathesis run of the test suite, with many more cases per operation (by hand, not CI).
fuzz:
	@EXTSCHED_FUZZ_EXAMPLES=$${EXTSCHED_FUZZ_EXAMPLES:-300} .venv/bin/pytest -p no:randomly -q \
		--timeout 3600 tests/e2e/test_openapi.py -k schemathesis

# Every fault and hostile-input test, larger (EXTSCHED_FAULT_SCALE), writing docs/reliability.md.
faults:
	@EXTSCHED_FAULT_SCALE=$${EXTSCHED_FAULT_SCALE:-10} \
		EXTSCHED_RELIABILITY_REPORT=docs/reliability.md \
		.venv/bin/pytest -p no:randomly -q --timeout 1800 -m reliability tests
