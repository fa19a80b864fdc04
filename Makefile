# Two commands on a fresh clone: `make bench` (the default leaderboard) and `make test`; `make perf` for speed.
# Both create or reuse .venv and install what they need. torch is pinned and installed first, so pip takes
# the CPU wheel and never pulls the multi-GB CUDA build as a dependency of something else.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
# Use the shared data folder beside the clone when there is one (machines without network, CI).
export LANGGAN_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data))

.PHONY: bench test lint perf report venv clean

venv: $(STAMP)

# pip byte-compiles file after file; compileall does it on every core at once (a fresh .venv on the 2-core
# machine: 66 -> 54 s). A file that does not compile (a package's Python 2 example) is skipped, as pip skips it.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile $(TORCH)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -e '.[dev,dask]'
	$(PY) -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	touch $(STAMP)

# every model on oracle and coco (small profile), seeds 0,1,2, then the report; finished runs are reused
# (--fresh to redo). Two single-threaded worker processes: on 2 cores the whole grid's cells took 3,283 s this
# way, 3,755 s on one 2-thread Dask worker and 4,704 s in one 2-thread process (--executor local); commit
# af41841, 2026-12-02 (README: "The grid beyond one process").
bench: $(STAMP)
	$(BIN)/langgan-bench bench --profile small --out results --executor dask --workers 2 --threads-per-worker 1

report: $(STAMP)
	$(BIN)/langgan-bench report --results results

perf: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,perf]'
	$(BIN)/langgan-bench perf

# one pytest-xdist worker per core, a module (and the runs it trains once for its tests) on one worker
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadscope

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info
