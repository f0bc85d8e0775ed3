# Developers' shortcuts.  The set-up itself is ./inkwell-setup (needs only sh and sudo), which
# the README's two commands call directly; these targets call it too.
PYTEST := .venv/bin/python -m pytest
export QT_QPA_PLATFORM ?= offscreen

.PHONY: setup run test test-slow check bench package smoke clean

setup:
	./inkwell-setup

run:
	./inkwell-setup run

test:
	./inkwell-setup test

test-slow:
	./inkwell-setup test-slow

check:  # needs the test tools: ./inkwell-setup test (or make test) once
	.venv/bin/ruff check core desktop tests benchmarks
	.venv/bin/mypy

bench: setup
	.venv/bin/python benchmarks/runtime_speed.py

package: setup
	$(MAKE) -C packaging package

smoke: setup
	$(MAKE) -C packaging smoke

clean:
	rm -rf .venv .test-cache build dist
