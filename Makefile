# Two commands do everything on a fresh machine:
#   make demo   start the demo API behind the gateway (HTTPS, no server needed)
#   make test   the whole test suite (also what CI runs)
# Both create .venv and install what they need (Debian packages with apt-get when missing).

.PHONY: demo test bench bench-ci install clean

install:
	bash -c 'source scripts/lib.sh && ensure_venv'

demo: install
	.venv/bin/cpragate demo

test:
	bash scripts/test

bench: install
	bash bench/run.sh

bench-ci: install
	BENCH_QUICK=1 bash bench/run.sh

clean:
	rm -rf .venv .cpragate-demo .pytest_cache .mypy_cache .ruff_cache
