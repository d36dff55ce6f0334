# Regiozicht — the two commands a new user runs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test protos install clean

$(BIN)/regiozicht: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/regiozicht

demo: install
	$(BIN)/regiozicht demo

test: install
	scripts/ensure-postgres.sh
	$(BIN)/python -m pytest -q

protos: install
	scripts/gen-protos.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
