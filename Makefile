# Regiozicht — the two commands a new user runs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-clock protos install clean

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

# the whole suite twice with every process's clock moved (libfaketime): just after a
# budget year renews, and into the second quarter
CLOCK_DATES ?= 2027-01-05T10:00:00 2027-04-02T10:00:00
test-clock: install
	scripts/ensure-postgres.sh
	scripts/ensure-faketime.sh
	@status=0; for at in $(CLOCK_DATES); do scripts/test-clock.sh "$$(echo $$at | tr T ' ')" || status=1; done; exit $$status

protos: install
	scripts/gen-protos.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
