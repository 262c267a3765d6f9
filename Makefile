# rocars-edge: the two commands of the README, and the checks behind them.
# On a fresh Debian machine as root: `make demo` or `make test`; each installs what it needs.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBS := python3 python3-venv mosquitto mosquitto-clients fonts-noto-cjk fonts-wqy-microhei \
	libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0 poppler-utils
STAMP := $(VENV)/.installed
TRUCKS ?= 12
SEED ?= 7
PYTEST_ARGS ?=

.PHONY: demo test debs venv lint typecheck check bench clean

demo: debs $(STAMP) ## a whole simulated control point, headless, N trucks
	$(BIN)/rocars-edge up --headless --trucks $(TRUCKS) --seed $(SEED)

test: debs $(STAMP) ## lint, types, import contracts, then the whole suite
	$(MAKE) --no-print-directory check
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check 'uv==0.13.9'
	$(BIN)/uv pip install --python $(BIN)/python -q -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lock: ## re-resolve requirements.lock after changing pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o requirements.lock -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
