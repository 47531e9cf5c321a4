# Two commands on a fresh machine: `make reproduce` (every experiment, defaults, one seed) and `make test`.
# On a GPU machine: `make reproduce-gpu` (Keras on JAX with CUDA; no TensorFlow needed).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
GPU_VENV ?= .venv-gpu
SHELL := /bin/bash

.PHONY: data venv reproduce reproduce-gpu test lint format readme benchmark clean-runs upgrade _experiments

# The venvs install the locks' exact versions (those that made the committed results), on Linux, macOS
# and Windows alike: the locks carry markers. `make venv` installs what the scripts need (requirements.lock,
# 1.8 GB on disk); `make test` adds the test tools on top (requirements-dev.lock: pytest, ruff, uv and JAX
# for the JAX test, 2.4 GB in all), both measured in a fresh venv on Linux x86_64, Python 3.11.
# `rm -r .venv && make test REQS=requirements.txt TEST_REQS=requirements-dev.txt` installs the newest versions
# the ranges allow instead (GPU_REQS=requirements-gpu.txt for the GPU venv).
REQS ?= requirements.lock
TEST_REQS ?= requirements-dev.lock
GPU_REQS ?= requirements-gpu.lock

# uv installs the same pins as pip, in parallel: a fresh venv of both locks took 68 s against pip's 187 s on the
# 2-core Xeon (each beside the same other work). It is the test lock's uv, put in $(VENV)/uv, not among the venv's
# packages; where it cannot reach the index (uv reads no pip.conf), pip installs the lock as before.
UV_PIN := $(shell grep -m1 '^uv==' requirements-dev.lock | cut -d' ' -f1)
INSTALL = $(VENV)/uv/bin/uv pip install --quiet --compile-bytecode --python $(PY) -r $(1) || $(PY) -m pip install --quiet -r $(1)

$(VENV)/installed: $(REQS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --target $(VENV)/uv $(UV_PIN)
	$(call INSTALL,$(REQS))
	touch $@

$(VENV)/installed-dev: $(VENV)/installed $(TEST_REQS)
	$(call INSTALL,$(TEST_REQS))
	touch $@

venv: $(VENV)/installed  # the venv alone (the README's quick start)

$(GPU_VENV)/installed: $(GPU_REQS)
	$(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(GPU_VENV)/bin/python -m pip install --quiet -r $(GPU_REQS)
	touch $@

# The course's own CIFAR10/ and MNIST/ folders into ./data at a pinned commit, every file checked against
# common/data_manifest.sha256 (common/datasets.py). System python3 and git only: it runs before any venv.
# Windows without make: `py -m common.datasets fetch`.
data:
	$(PYTHON) -m common.datasets fetch

# Refresh the locks to the newest versions the ranges in requirements*.txt allow, with the venv's uv.
# One lock serves Linux x86_64/aarch64, macOS arm64 and Windows AMD64 on Python 3.10+ (--universal: the
# markers decide per machine; uv forks where a release needs a newer Python, e.g. NumPy 2.4 needs 3.11).
# The test lock is constrained to the runtime lock (-c), so the two pin every package they share alike.
# Results made after an upgrade carry the new versions in their metrics.json ("versions"); run `make test`
# and commit the locks with them. The locks' headers hold these commands without --upgrade, which re-lock
# after an edit to a requirements file while keeping every other pin (the runtime lock first).
LOCK := uv pip compile --universal --python-version 3.10
upgrade: $(VENV)/installed-dev
	$(VENV)/bin/$(LOCK) requirements.txt -o requirements.lock --upgrade
	$(VENV)/bin/$(LOCK) requirements-dev.txt -c requirements.lock -o requirements-dev.lock --upgrade
	$(VENV)/bin/$(LOCK) requirements-gpu.txt -o requirements-gpu.lock --upgrade

reproduce: $(VENV)/installed
	$(MAKE) --no-print-directory _experiments RUN_PY=$(PY)

reproduce-gpu: $(GPU_VENV)/installed
	KERAS_BACKEND=jax $(MAKE) --no-print-directory _experiments RUN_PY=$(GPU_VENV)/bin/python

# The four scripts with their defaults (the study's schedule, one seed), timed end to end.
# `make reproduce SEED=1` runs another seed (any seed takes the same time). The opt-in speed settings
# change the numbers by rounding (README, "Speed"), so their runs get folders of their own:
# PRECISION=mixed_bfloat16 trains the sweep and the RNN grid in bfloat16 (faster on CPUs with AMX or
# AVX512-BF16, 0.18x slower on CPUs without: common/cpu.py), FUSED_ADAM=1 their Adam runs on TensorFlow's
# fused kernel; FAST=1 sets the fused kernel, and bfloat16 only where the CPU has it in hardware
# (`python3 -m common.cpu --fast-precision` says which). The deconvnet's network stays float32, Keras' Adam.
SEED ?= 0
PRECISION ?= float32
FUSED_ADAM ?= 0
ifeq ($(FAST),1)
override PRECISION := $(or $(shell $(PYTHON) -m common.cpu --fast-precision 2>/dev/null),float32)
override FUSED_ADAM := 1
endif
# WORKERS=2 trains the sweep's and the RNN grid's runs two at a time (--workers, common/cli.py: the same
# numbers, each run trained once); the deconvnet's one run stays one process.
WORKERS ?= 1
TRAIN_FLAGS := --precision $(PRECISION) $(if $(filter 1,$(FUSED_ADAM)),--fused-adam,--no-fused-adam) --workers $(WORKERS)
_experiments:
	@start=$$(date +%s); \
	$(RUN_PY) cifar_v2.py --seeds $(SEED) $(TRAIN_FLAGS) && $(RUN_PY) dconvnet.py --seed $(SEED) && \
	$(RUN_PY) dconvnet_visualizations.py --seed $(SEED) && $(RUN_PY) rnn_mnist.py --seeds $(SEED) $(TRAIN_FLAGS) && \
	echo "make reproduce: all four scripts in $$(( ($$(date +%s) - start) / 60 )) min $$(( ($$(date +%s) - start) % 60 )) s"

lint: $(VENV)/installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Copy the generated result tables into the README's quoted blocks (tests/test_readme.py checks them).
readme: $(VENV)/installed
	$(PY) -m common.report.docs

# The tests on PYTEST_WORKERS processes (pytest-xdist), one by one, except that the tests sharing a network or
# a run made once per file go to one worker together (tests/conftest.py). On the 2-core CPU, 2 workers overlap
# what one process leaves idle (start-up, file I/O, Python), and 3 gave no more (11m11s against 11m07s on the
# 2-core Xeon); more workers on more cores need about 2 GB each.
PYTEST_WORKERS ?= 2
test: lint
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup tests

benchmark: $(VENV)/installed
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/train_throughput.py --precision mixed_bfloat16
	$(PY) benchmarks/train_throughput.py --precision mixed_bfloat16 --fused-adam
	$(PY) benchmarks/optimizer_update.py
	$(PY) benchmarks/deconvnet_throughput.py

clean-runs:  # checkpoints, metrics and TensorBoard logs (figures/ stays)
	rm -rf runs
