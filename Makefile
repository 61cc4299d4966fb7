# Every target does its own set-up: a fresh machine needs only Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# A demo ledger on embedded SQLite under ./var. The passphrase below protects
# demo keys only; set CMPP_KEY_PASSPHRASE yourself for anything real.
run: $(STAMP)
	@CMPP_KEY_PASSPHRASE="$${CMPP_KEY_PASSPHRASE:-demo-only-not-secret}" \
	 CMPP_VAULT_KEY="$${CMPP_VAULT_KEY:-Y21wcC1kZW1vLXZhdWx0LWtleS1ub3Qtc2VjcmV0ISE=}" $(BIN)/cmpp run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
