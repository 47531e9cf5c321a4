# Two commands on a fresh machine: `make reproduce` (every experiment, defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: reproduce test lint format benchmark clean-runs

$(VENV)/installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

reproduce: $(VENV)/installed
	$(PY) cifar_v2.py
	$(PY) dconvnet.py
	$(PY) dconvnet_visualizations.py
	$(PY) rnn_mnist.py

lint: $(VENV)/installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest -q tests

benchmark: $(VENV)/installed
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/deconvnet_throughput.py

clean-runs:  # checkpoints, metrics and TensorBoard logs (figures/ stays)
	rm -rf runs
