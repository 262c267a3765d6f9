# rocars-edge: the two commands of the README, and the checks behind them.
# On a fresh Debian machine as root: `make demo` or `make test`; each installs what it needs.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBS := python3 python3-venv mosquitto mosquitto-clients fonts-noto-cjk fonts-wqy-microhei \
	libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0 poppler-utils \
	libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 \
	libxcb-randr0 libxcb-xkb1
# the libxcb-* are what Qt's xcb plugin loads: the windows of `rocars-edge up` on a desktop
STAMP := $(VENV)/.installed
TRUCKS ?= 12
SEED ?= 7
PYTEST_ARGS ?=
PACKAGES := rocars sync avrs_adapter xdb_display aiop_panel kiosk hardware_sim ui_common
# Bytecode is compiled ahead: where PYTHONDONTWRITEBYTECODE is set (as on these shared
# machines) every process would otherwise compile FastAPI, pydantic and the rest
# from source at each start, 3-13 s instead of 0.8 s for the simulated centre.
# A booth PC's services run as users that cannot write under /opt/rocars-edge, so they
# need it too (`make compile`, docs/operations.md).
COMPILE := $(BIN)/python -m compileall -q -j 0 $(PACKAGES) tests bench >/dev/null

.PHONY: demo test debs venv compile lint typecheck check bench clean

demo: debs $(STAMP) ## a whole simulated control point, headless, N trucks
	$(COMPILE)
	$(BIN)/rocars-edge up --headless --trucks $(TRUCKS) --seed $(SEED)

test: debs $(STAMP) ## lint, types, import contracts, then the whole suite
	$(MAKE) --no-print-directory check
	$(COMPILE)
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
	$(BIN)/uv pip install --python $(BIN)/python -q --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

compile: $(STAMP) ## bytecode for our packages (after every update of the checkout)
	$(COMPILE)

# sched_trace.py is a diagnostic run by hand (perf, root), not a benchmark with a target
BENCHES = $(filter-out bench/sched_trace.py,$(wildcard bench/*.py))

bench: $(STAMP)
	for b in $(BENCHES); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lock: ## re-resolve requirements.lock after changing pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o requirements.lock -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
