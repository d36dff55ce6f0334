# Regiozicht — the two commands a new user runs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Benchmark peers whose pins conflict with ours get a venv of their own:
# openmined-psi 2.0.6 requires protobuf==6.30.2, we run protobuf 7.
OPENMINED_VENV := .venv-openmined
OPENMINED_PSI  := openmined-psi==2.0.6

.PHONY: demo lint test test-fast test-clock mutants protos install bench-peers clean

$(BIN)/regiozicht: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/regiozicht

demo: install
	$(BIN)/regiozicht demo

# ruff on the whole tree, mypy --strict on our packages (pyproject.toml; generated regiozicht/v1 excluded)
MYPY_PACKAGES := regiozicht node coordinator analyst counter synth demo bench tests
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy $(MYPY_PACKAGES)

test: install
	scripts/ensure-postgres.sh
	scripts/ensure-chromium.sh
	scripts/ensure-nftables.sh
	$(BIN)/python -m pytest -q

# the suite without real processes, PostgreSQL and whole synthetic regions (markers `processes`,
# `postgres`, `region`): under a minute; `make test` runs everything
test-fast: install
	$(BIN)/python -m pytest -q -m "not processes and not postgres and not region"

$(OPENMINED_VENV)/.installed:
	rm -rf $(OPENMINED_VENV)
	$(PYTHON) -m venv $(OPENMINED_VENV)
	$(OPENMINED_VENV)/bin/pip install --quiet '$(OPENMINED_PSI)'
	$(OPENMINED_VENV)/bin/python -c 'import private_set_intersection.python'
	touch $@

bench-peers: $(OPENMINED_VENV)/.installed

# the whole suite twice with every process's clock moved (libfaketime): just after a
# budget year renews, and into the second quarter
CLOCK_DATES ?= 2027-01-05T10:00:00 2027-04-02T10:00:00
test-clock: install
	scripts/ensure-postgres.sh
	scripts/ensure-faketime.sh
	@status=0; for at in $(CLOCK_DATES); do scripts/test-clock.sh "$$(echo $$at | tr T ' ')" || status=1; done; exit $$status

# each deliberate privacy break in a temporary copy, against the tests that must catch it;
# last line mutants_killed=K/N (scripts/mutants.py lists the mutants)
mutants: install
	scripts/mutants.sh

protos: install
	scripts/gen-protos.sh

clean:
	rm -rf $(VENV) $(OPENMINED_VENV) build *.egg-info .pytest_cache
