# skruntime: every target bootstraps .venv from nothing, so a fresh clone needs
# only `make run` or `make test`.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
SOURCES := pyproject.toml setup.py $(wildcard native/*.c native/*.h native/*.py)

.PHONY: install run test bench typecheck fixtures clean

install: $(STAMP)

$(STAMP): $(SOURCES)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@$(PY) -c "from skruntime._native_loader import native_status; print('skruntime kernel:', native_status())"
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/skruntime serve

test: $(STAMP)
	@./.ci/install-chromium
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/run_all.py

# mypy --strict over the package (mypy is installed into .venv only for this)
typecheck: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check mypy
	$(PY) -m mypy skruntime --ignore-missing-imports

# Regenerates the XState conformance fixtures (needs node + npm and network);
# run by hand, the fixtures are committed.
fixtures:
	cd tests/conformance && npm ci --no-audit --no-fund && node generate.mjs

clean:
	rm -rf $(VENV) build *.egg-info skruntime/_native*.so skruntime/_native.c skruntime/_native.o
