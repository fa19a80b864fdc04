# Two commands on a fresh clone: `make bench` (the default leaderboard) and `make test`; `make perf` for speed.
# Both create or reuse .venv and install what they need. torch is pinned and installed first, so pip takes
# the CPU wheel and never pulls the multi-GB CUDA build as a dependency of something else.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
# make perf: the phase table natively and restricted to AVX2 in the same run (PERF_ISA=native for one)
PERF_ISA ?= native,avx2
# Use the shared data folder beside the clone when there is one (machines without network, CI).
export LANGGAN_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data))

.PHONY: bench test lint imports perf report venv clean browser

venv: $(STAMP)

# pip byte-compiles file after file; compileall does it on every core at once (a fresh .venv is made faster).
# A file that does not compile (a package's Python 2 example) is skipped, as pip skips it.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile $(TORCH)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -e '.[dev,dask]'
	$(PY) -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	touch $(STAMP)

# every model on oracle and coco (small profile), seeds 0,1,2, then the report; finished runs are reused
# (--fresh to redo). Two single-threaded Dask workers: on 2 cores they finish the grid sooner than one 2-thread
# worker or one 2-thread process (docs/performance.md, "The grid's executors").
bench: $(STAMP)
	$(BIN)/langgan-bench bench --profile small --out results --executor dask --workers 2 --threads-per-worker 1

report: $(STAMP)
	$(BIN)/langgan-bench report --results results

perf: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,perf]'
	$(BIN)/langgan-bench perf --isa $(PERF_ISA)

# the import contracts first (seconds), then one pytest-xdist worker per core, a module (and the runs it trains
# once for its tests) on one worker. The project's own modules are byte-compiled first, as the .venv's are: the
# suite starts some thirty Python processes, and where PYTHONDONTWRITEBYTECODE is set each would compile them.
# Only the plug-ins the suite uses are loaded (xdist, Hypothesis): pytest rewrites the asserts of every module of
# every installed plug-in's package that it autoloads, in each worker (a plain `pytest` still autoloads them all).
test: imports browser
	$(PY) -m compileall -q -j 0 benchmark models metrics tests > /dev/null || true
	$(BIN)/python -m pytest -q -n auto --dist loadscope --disable-plugin-autoload -p xdist -p hypothesispytest

# tests/test_browser.py opens the report and the site in headless Chromium: installed here when missing and
# apt-get may (root on Debian; BROWSER=0 skips it), else that test says why it skipped. Nothing to do when present.
BROWSER ?= 1
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  [ "$(BROWSER)" = 0 ] || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "make: no Chromium (Debian: apt-get install chromium); tests/test_browser.py will be skipped"

lint: imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# the layers of README's "Layout" (pyproject.toml: [tool.importlinter]), read from the package laid out as it
# installs (.ci/import_tree.py: its import names span three folders)
imports: $(STAMP)
	$(PY) .ci/import_tree.py build/imports
	PYTHONPATH=build/imports $(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) build *.egg-info
