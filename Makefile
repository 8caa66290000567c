# question-router — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
MODEL ?= artifacts/default
STAMP := $(VENV)/.installed

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-17s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dev tools (idempotent)

data: $(STAMP) ## rebuild datasets/questions.csv from datasets/raw/ (validates every part)
	$(BIN)/python -m training.build_dataset

model: $(STAMP) ## build the default model unless a valid one exists
	@$(BIN)/python -c "from model.artifact import verify_artifact; verify_artifact('$(MODEL)')" 2>/dev/null \
		&& echo "model $(MODEL) is valid" || $(BIN)/qrouter train --out $(MODEL)

train: $(STAMP) ## (re)train the default model from datasets/questions.csv
	$(BIN)/qrouter train --out $(MODEL)

evaluate: model ## evaluate the default model on the test split; report in reports/domain
	$(BIN)/qrouter evaluate --data datasets/questions.csv --model $(MODEL) --report reports/domain

evaluate-encoder: $(STAMP) ## train the model with the sentence-embedding block (artifacts/e5) and evaluate it; reports/domain-e5
	$(BIN)/qrouter train --encoder multilingual-e5-small --out artifacts/e5
	$(BIN)/qrouter evaluate --data datasets/questions.csv --model artifacts/e5 --report reports/domain-e5

serve: model ## install if needed, build the model if needed, serve the API on HOST:PORT
	$(BIN)/qrouter serve --host $(HOST) --port $(PORT) --model $(MODEL)

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) ## lint, then the whole test suite (notebooks included)
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest

notebooks: $(STAMP) ## execute both notebooks headless (papermill) and check they are committed clean
	$(BIN)/python -m pytest tests/notebooks -q

bench: model ## benchmarks (model vs fastText, API load, batch 100k/1M); figures go into the README
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	command -v wrk >/dev/null || { command -v apt-get >/dev/null && apt-get install -y -qq wrk; } || echo "wrk not installed: the load test falls back to a Python client"
	$(BIN)/python -m benchmarks.model_bench --out reports/bench
	$(BIN)/python -m benchmarks.load_bench --model $(MODEL) --out reports/bench
	$(BIN)/python -m benchmarks.batch_bench --model $(MODEL) --out reports/bench
	$(BIN)/python -m benchmarks.batch_bench --model $(MODEL) --out reports/bench --plain --engines dask

format: $(STAMP) ## apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove built artifacts, reports and caches (keeps .venv)
	rm -rf artifacts reports .pytest_cache .ruff_cache

.PHONY: help install data model train evaluate serve lint test notebooks bench format clean
