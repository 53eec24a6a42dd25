# The two entry points the README opens with. Everything else is a helper of theirs.
#   make run   install everything into .venv and serve on SQLite with generated dev keys
#   make test  install everything into .venv and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench bench-quick

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,plot]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/chatwarden serve --dev

test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/python -m benchmarks run --quick

lint: $(STAMP)
	$(BIN)/ruff check redact proxy policies benchmarks tests
	$(BIN)/mypy redact proxy policies
