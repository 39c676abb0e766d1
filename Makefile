# Two commands do everything on a fresh machine:
#   make run   - set up, run the pipeline on seeds/, start the dashboard on http://localhost:8501
#   make test  - set up, run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The settings' variables when set (TOPICS_STORE=... make run), else their defaults; STORE= and PORT=
# on the command line win.
STORE ?= $(or $(TOPICS_STORE),data/store)
PORT ?= $(or $(TOPICS_PORT),8501)

.PHONY: run test setup pipeline dashboard lint bench clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# The tagger's C loops (optional: without a C compiler a note says so and tagging takes the NumPy
# path, with the same scores). Rebuilt only when pipeline/tagger/_kernel.c changes.
# The project's bytecode is compiled once here, as pip does for installed packages: every worker
# process of a run would otherwise compile the modules it imports again where PYTHONDONTWRITEBYTECODE is set.
setup: $(VENV)/.installed
	@$(PY) -m pipeline.tagger.kernel
	@$(PY) -m compileall -q pipeline dashboard bench >/dev/null

pipeline: setup
	$(PY) -m pipeline run --input seeds --store $(STORE) || [ $$? -eq 3 ]

dashboard: setup
	TOPICS_STORE=$(STORE) TOPICS_PORT=$(PORT) $(PY) -m dashboard

run: pipeline dashboard

test: setup
	$(PY) -m ruff check pipeline dashboard bench tests
	$(PY) -m pytest -q tests

lint: setup
	$(PY) -m ruff check pipeline dashboard bench tests

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) data .pytest_cache
