# Two commands: `make run` starts the studio and a worker; `make test` runs the whole test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test install install-test bench-engine bench-ingest bench-studio bench-serving bench-forecast mlflow-env clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

# Reinstall only when pyproject.toml or the constraints change, so a second `make run` starts in seconds.
# constraints.txt holds every transitive dependency's version: a fresh install is the tested one.
$(VENV)/.installed: pyproject.toml constraints.txt | $(PY)
	$(PIP) install -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt $(VENV)/.installed
	$(PIP) install -c constraints.txt -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(PY) -m studio.launcher

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)

# AutoGluon-Tabular (the engine benchmark's best_quality anchor) gets a virtual environment of its own, like the
# forecasting anchors; torch 2.13.0 first (the CPU wheel on this machine's disk). BENCH_ENGINE_ARGS passes
# options (--load, --datasets ..., --no-autogluon).
AGT_VENV := var/bench-autogluon-tabular
bench-engine: install
	$(PIP) install -c constraints.txt -e ".[bench]"
	test -x $(AGT_VENV)/bin/python || ($(PYTHON) -m venv $(AGT_VENV) && $(AGT_VENV)/bin/pip install -q torch==2.13.0 \
		&& $(AGT_VENV)/bin/pip install -q "autogluon.tabular[lightgbm,catboost,xgboost,fastai]==1.6.3")
	$(PY) bench/engine.py $(BENCH_ENGINE_ARGS)

# MLflow pins an older gunicorn and pyarrow than the studio, so it gets a virtual environment of its own. It
# lives outside the checkout (one per machine, named by its mlflow version) so that a fresh clone, CI's
# included, reuses it instead of downloading it again.
MLFLOW_VENV ?= $(HOME)/.cache/automl-studio/mlflow-3.17.2
bench-serving: install mlflow-env
	$(PY) bench/serving.py --mlflow-python $(MLFLOW_VENV)/bin/python

# Also used by tests/studio/codefirst/test_mlflow.py (it runs `make mlflow-env` when the venv is missing).
mlflow-env:
	test -x $(MLFLOW_VENV)/bin/mlflow || ($(PYTHON) -m venv $(MLFLOW_VENV) && $(MLFLOW_VENV)/bin/pip install -q \
		mlflow==3.17.2 numpy==2.4.6 pandas==3.1.1 scipy==1.17.1 scikit-learn==1.9.1 lightgbm==4.7.0 \
		xgboost==2.1.4 joblib==1.6.0 threadpoolctl==3.8.0)

# StatsForecast and AutoGluon-TimeSeries pin their own numpy/pandas/scikit-learn ranges: each gets a virtual
# environment of its own. torch 2.13.0 first: it is the CPU wheel on this machine's disk; without it
# autogluon.timeseries pulls a multi-GB CUDA build. BENCH_FORECAST_ARGS passes options (--windows 3, ...).
SF_VENV := var/bench-statsforecast
AG_VENV := var/bench-autogluon
bench-forecast: install
	test -x $(SF_VENV)/bin/python || ($(PYTHON) -m venv $(SF_VENV) && $(SF_VENV)/bin/pip install -q \
		statsforecast==2.1.1)
	test -x $(AG_VENV)/bin/python || ($(PYTHON) -m venv $(AG_VENV) && $(AG_VENV)/bin/pip install -q torch==2.13.0 \
		&& $(AG_VENV)/bin/pip install -q autogluon.timeseries==1.6.3)
	$(PY) bench/forecast.py $(BENCH_FORECAST_ARGS)

bench-studio: install
	$(PY) bench/studio.py all

bench-ingest: install
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) var/staticfiles
