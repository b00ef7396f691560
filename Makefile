# Two commands: `make run` starts the studio and a worker; `make test` runs the whole test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test install install-test bench-engine bench-ingest bench-studio bench-serving clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

# Reinstall only when pyproject.toml changes, so a second `make run` starts in seconds.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(PY) -m studio.launcher

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)

bench-engine: install
	$(PIP) install "flaml[automl]==2.7.0"
	$(PY) bench/engine.py

bench-ingest: install
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) var/staticfiles
