# Two commands on a fresh machine: `make reproduce` (every experiment, defaults, one seed) and `make test`.
# On a GPU machine: `make reproduce-gpu` (Keras on JAX with CUDA; no TensorFlow needed).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
GPU_VENV ?= .venv-gpu
SHELL := /bin/bash

.PHONY: reproduce reproduce-gpu test lint format readme benchmark clean-runs _experiments

$(VENV)/installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(GPU_VENV)/installed: requirements-gpu.txt
	$(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(GPU_VENV)/bin/python -m pip install --quiet -r requirements-gpu.txt
	touch $@

reproduce: $(VENV)/installed
	$(MAKE) --no-print-directory _experiments RUN_PY=$(PY)

reproduce-gpu: $(GPU_VENV)/installed
	KERAS_BACKEND=jax $(MAKE) --no-print-directory _experiments RUN_PY=$(GPU_VENV)/bin/python

# The four scripts with their defaults (the study's schedule, one seed), timed end to end.
# `make reproduce SEED=1` runs another seed (any seed takes the same time). The opt-in speed settings
# change the numbers by rounding (README, "Speed"), so their runs get folders of their own:
# PRECISION=mixed_bfloat16 trains the sweep and the RNN grid in bfloat16 (faster on CPUs with AMX),
# FUSED_ADAM=1 their Adam runs on TensorFlow's fused kernel; FAST=1 sets both. The deconvnet's network
# stays float32 with Keras' Adam.
SEED ?= 0
PRECISION ?= float32
FUSED_ADAM ?= 0
ifeq ($(FAST),1)
override PRECISION := mixed_bfloat16
override FUSED_ADAM := 1
endif
TRAIN_FLAGS := --precision $(PRECISION) $(if $(filter 1,$(FUSED_ADAM)),--fused-adam,--no-fused-adam)
_experiments:
	@start=$$(date +%s); \
	$(RUN_PY) cifar_v2.py --seeds $(SEED) $(TRAIN_FLAGS) && $(RUN_PY) dconvnet.py --seed $(SEED) && \
	$(RUN_PY) dconvnet_visualizations.py --seed $(SEED) && $(RUN_PY) rnn_mnist.py --seeds $(SEED) $(TRAIN_FLAGS) && \
	echo "make reproduce: all four scripts in $$(( ($$(date +%s) - start) / 60 )) min $$(( ($$(date +%s) - start) % 60 )) s"

lint: $(VENV)/installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Copy the generated result tables into the README's quoted blocks (tests/test_readme.py checks them).
readme: $(VENV)/installed
	$(PY) -m common.readme

test: lint
	$(PY) -m pytest -q tests

benchmark: $(VENV)/installed
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/train_throughput.py --precision mixed_bfloat16
	$(PY) benchmarks/train_throughput.py --precision mixed_bfloat16 --fused-adam
	$(PY) benchmarks/optimizer_update.py
	$(PY) benchmarks/deconvnet_throughput.py

clean-runs:  # checkpoints, metrics and TensorBoard logs (figures/ stays)
	rm -rf runs
