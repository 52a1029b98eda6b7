# Two commands do everything on a fresh machine:  `make demo`  and  `make test`.
# Each creates .venv, installs what it needs (Debian packages with apt-get when missing).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: demo test check bench bench-ci install clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cpragate demo

test: $(STAMP)
	bash scripts/test

check: $(STAMP)
	bash scripts/check

bench: $(STAMP)
	bash bench/run.sh

bench-ci: $(STAMP)
	BENCH_QUICK=1 bash bench/run.sh

clean:
	rm -rf $(VENV) .cpragate-demo .pytest_cache .mypy_cache .ruff_cache
