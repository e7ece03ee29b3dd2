# One command to start the service, one to run the tests; both make their own virtualenv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

## run: start the service on the embedded SQLite database (instance/scheduler.db)
run: $(VENV)/.runtime
	$(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

## test: run the whole test suite (PostgreSQL and browser tests skip, with a reason, where unavailable)
test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check webapp tests bench
	$(BIN)/ruff format --check webapp tests bench

bench: $(VENV)/.dev
	$(BIN)/python bench/api_list.py
	$(BIN)/python bench/fire.py
	$(BIN)/python bench/catchup.py

clean:
	rm -rf $(VENV) instance .pytest_cache
