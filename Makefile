# A thin front for the tasks in tasks.py, which do the work: `make` lists the targets.
# Override a setting per call, e.g. `make run IMAGE_NAME=my-model`, or put it in .env.

PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=
BENCH_ARGS ?= --runs 3 --update-readme
# `make run DATA=./data ARGS="train --data /app/data/train.csv"`: a folder of yours, mounted
# read-only at /app/data, and the job's arguments.
DATA ?=
ARGS ?=
INV := $(VENV)/bin/inv

.DEFAULT_GOAL := help

.PHONY: help  ## List the targets
help:
	@echo "Usage: make TARGET (the tasks behind them: $(INV) --list)"
	@sed -n 's/^\.PHONY: \([a-z-]*\) *## \(.*\)/\1|\2/p' $(MAKEFILE_LIST) | awk -F'|' '{ printf "  %-15s %s\n", $$1, $$2 }'

# The tasks' tools alone, for the targets that only drive Docker; the job's requirements too,
# for those that import the job (its tests, `inv reqs` and `inv doctor`). uv installs them, as it
# does in the image, several times faster than pip: your uv if you have one; else one that your
# Python's pip puts in a virtualenv made without pip (2.5 s here, where making it with pip and
# installing uv with that took 7.6 s); else, with a pip older than 22.3 or none, that slower way.
# uv then adds pip, for `.venv/bin/pip install` by hand.
UV_VERSION ?= 0.13.8
UV = $$(command -v uv || echo $(VENV)/bin/uv)
PIP_QUIETLY = install --quiet --disable-pip-version-check

$(VENV)/.tools: requirements-dev.txt
	if command -v uv >/dev/null; then uv venv --quiet --allow-existing --python $(PYTHON) $(VENV); \
	elif $(PYTHON) -m venv --without-pip $(VENV) \
	  && $(PYTHON) -m pip --python $(VENV)/bin/python $(PIP_QUIETLY) uv==$(UV_VERSION) 2>/dev/null; then :; \
	else $(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip $(PIP_QUIETLY) uv==$(UV_VERSION); fi
	$(UV) pip install --quiet --python $(VENV)/bin/python pip -r requirements-dev.txt
	touch $@

# The job's requirements from where the project keeps them: requirements.txt, else pyproject.toml
# (with every optional group, for the job's tests). The image installs the lock alone.
JOB_REQUIREMENTS = $(firstword $(wildcard requirements.txt) pyproject.toml)
$(VENV)/.installed: $(VENV)/.tools $(JOB_REQUIREMENTS)
	$(UV) pip install --quiet --python $(VENV)/bin/python -r $(JOB_REQUIREMENTS) \
	  $(if $(filter pyproject.toml,$(JOB_REQUIREMENTS)),--all-extras)
	touch $@

.PHONY: setup  ## Create .venv with the tasks' tools and the job's requirements
setup: $(VENV)/.installed

.PHONY: build  ## Build the image (inv build)
build: $(VENV)/.tools
	$(INV) build

.PHONY: run  ## Build the image and run the job in it (DATA=folder, ARGS="..."); results land in output/
run: build
	$(INV) run $(if $(DATA),--volume "$(abspath $(DATA)):/app/data:ro") $(if $(ARGS),-- $(ARGS))

.PHONY: test  ## Run your job's tests and the tasks' fast checks (those need no Docker engine)
test: setup
	$(VENV)/bin/pytest --ignore=tests/integration $(PYTEST_ARGS)

.PHONY: test-machinery  ## Run the tasks' whole suite: real builds and containers (Docker, ~20 minutes)
test-machinery: setup
	$(VENV)/bin/pytest tests/unit tests/integration $(PYTEST_ARGS)

.PHONY: lint  ## Check the Python code with ruff and the Dockerfile with hadolint
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/hadolint Dockerfile

.PHONY: bench  ## Measure builds, image size and start-up against the seed approach (several minutes)
bench: $(VENV)/.tools
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

.PHONY: bench-push  ## Time inv push's way to a registry against BuildKit's own push (after inv build)
bench-push: $(VENV)/.tools
	$(VENV)/bin/python bench/push.py $(BENCH_PUSH_ARGS)

.PHONY: bench-layers  ## What a one-package change pushes: the virtualenv in 16 layers against one (many minutes)
bench-layers: $(VENV)/.tools
	$(VENV)/bin/python bench/layers.py $(BENCH_LAYERS_ARGS)

.PHONY: clean  ## Remove this project's stopped containers, dangling images and local caches
clean: $(VENV)/.tools
	$(INV) clean
