# Deep Learning on 12 GB: the two commands a learner needs are `make lab` and `make test`.
# Both create (or reuse) the virtual environment in .venv and install the course into it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.dl12gb-installed
KERNEL := dl12gb
# The test environment: offline hubs (set before Python starts), smoke profile, no stray bars.
TEST_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 \
	COURSE_PROFILE=smoke MPLBACKEND=Agg PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1 \
	COURSE_DATA_DIR=$(CURDIR)/.course-runs/data
JOBS ?= 2
# pip installs without compiling its 21,000 modules up front (a minute on one core); Python compiles each module
# the first time one is imported and keeps the bytecode, so the tests pay for the few thousand they import.
# Some environments set PYTHONDONTWRITEBYTECODE, which would make every process compile them again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup lab test test-unit test-notebooks test-runner test-browser handouts lint benchmarks drift constraints clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -e ".[test]" -c constraints.txt
	$(PY) -m ipykernel install --user --name $(KERNEL) --display-name "Python (Deep Learning on 12 GB)" >/dev/null
	@touch $(STAMP)
	@echo "Environment ready in $(VENV)."

lab: setup
	$(PY) -m course lab

## Everything CI runs: lint and hygiene, unit tests and the browser, every notebook through nbval
## (recording metrics), then the runner: all notebooks again in a random order, compared with the first run.
## Both notebook passes start their kernels from one warm server (course/kernels.py): each kernel is a fresh
## process that finds PyTorch and transformers already imported, so the imports are paid once, not 50 times.
NBVAL_METRICS := $(CURDIR)/.course-runs/nbval-metrics
RUNNER_KERNEL := dl12gb-runner
NBVAL := $(PY) -m pytest -q -n $(JOBS) --dist loadscope --nbval-lax --nbval-kernel-name $(RUNNER_KERNEL) notebooks
WARM := $(PY) -m course.kernels warm --
# The files holding notebook-running tests, so that the second pass does not collect the other 2,000 tests again.
NOTEBOOK_TESTS = $(shell grep -l 'mark.notebooks' tests/test_*.py)
test: setup lint
	rm -rf $(NBVAL_METRICS)
	$(TEST_ENV) $(PY) -m pytest -q -n $(JOBS) -m "not notebooks" tests
	$(TEST_ENV) COURSE_NBVAL_METRICS=$(NBVAL_METRICS) COURSE_TEST_JOBS=$(JOBS) $(WARM) \
		bash -c '$(NBVAL) && $(PY) -m pytest -q -n $(JOBS) -m notebooks $(NOTEBOOK_TESTS)'

## The fast lane: unit tests without the notebooks, the browser and the tests marked slow (over a few seconds).
test-unit: setup
	$(TEST_ENV) $(PY) -m pytest -q -n $(JOBS) -m "not notebooks and not browser and not slow" tests

test-notebooks: setup
	$(TEST_ENV) $(WARM) $(NBVAL)

test-runner: setup
	$(TEST_ENV) $(WARM) $(PY) -m course run all --profile smoke --jobs $(JOBS) --out .course-runs/smoke

## JupyterLab driven by Chromium, and the handouts opened from disk (installs Debian's chromium when root).
test-browser: setup
	$(TEST_ENV) $(PY) -m pytest -q -m browser tests

## Participants' handouts in .course-runs/handouts (index.html, a page per notebook, one PDF with an outline).
## Here (PROFILE=smoke): the course weeks whose full profile runs on a CPU in minutes (weeks 0-2) run in full, the
## rest in the smoke profile, whose stand-in outputs are marked on the page. On a GPU machine, after
## `python -m course fetch`: `make handouts PROFILE=full` (every notebook's real outputs). ONLY="3 04a" selects.
PROFILE ?= smoke
ONLY ?= all
INLINE := MPLBACKEND=module://matplotlib_inline.backend_inline
CPU_FULL = $(shell $(PY) -c 'from course import syllabus as s; print(" ".join(n.id for n in s.select(s.load(), "$(ONLY)".split()) if not n.needs and not n.is_extra and n.full.minutes <= 5))')
handouts: setup
ifeq ($(PROFILE),full)
	-$(INLINE) $(PY) -m course run $(ONLY) --profile full --out .course-runs/handouts-full
	$(PY) -m course handouts --from .course-runs/handouts-full --only $(ONLY) --out .course-runs/handouts
else
	-$(TEST_ENV) $(INLINE) $(PY) -m course run $(ONLY) --profile smoke --out .course-runs/handouts-run
	$(if $(CPU_FULL),-$(INLINE) $(PY) -m course run $(CPU_FULL) --profile full --out .course-runs/handouts-cpu-full)
	$(PY) -m course handouts --from .course-runs/handouts-run $(if $(CPU_FULL),--from .course-runs/handouts-cpu-full) \
		--only $(ONLY) --out .course-runs/handouts
endif

lint: setup
	$(VENV)/bin/ruff check .
	find notebooks -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' -print0 | xargs -0 -r $(VENV)/bin/nbstripout --verify

benchmarks: setup
	$(PY) -m benchmarks

## Version drift: the newest releases of everything (not the pinned set), then the smoke suite.
drift:
	rm -rf .venv-drift && $(PYTHON) -m venv .venv-drift
	.venv-drift/bin/python -m pip install -q --upgrade pip
	.venv-drift/bin/python -m pip install -q --upgrade -e ".[test]"
	$(TEST_ENV) .venv-drift/bin/python -m pytest -q -n $(JOBS) -m "not browser" tests
	$(TEST_ENV) .venv-drift/bin/python -m pytest -q -n $(JOBS) --dist loadscope --nbval-lax --nbval-current-env notebooks

constraints: setup
	{ head -n 2 constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v '^dl12gb'; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf .course-runs .pytest_cache
