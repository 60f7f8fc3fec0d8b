# Two commands for a fresh clone: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck imports pytest bench mutation clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("allot needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/allot demo

test: lint typecheck imports pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict

imports: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest -q --hypothesis-profile=ci

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python tests/bench/bench_apportion.py
	$(BIN)/python tests/bench/bench_throughput.py
	$(BIN)/python tests/bench/bench_market_run.py
	$(BIN)/python tests/bench/bench_validation.py
	$(BIN)/python tests/bench/bench_open.py
	$(BIN)/python tests/bench/bench_http.py
	$(BIN)/python tests/bench/bench_copy_trading.py
	$(BIN)/python tests/bench/bench_fairness.py
	$(BIN)/python tests/bench/bench_deliveries.py

# Not part of `make test`: mutates core/ and runs the fast tests (unit, property) against every mutant.
# Results are kept in mutants/ and reused by the next run; `$(BIN)/mutmut results` lists the survivors.
mutation: $(STAMP)
	$(BIN)/mutmut run
	$(BIN)/mutmut export-cicd-stats
	$(BIN)/python tests/mutation_score.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache .hypothesis mutants
