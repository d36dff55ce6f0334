# Regiozicht — the two commands a new user runs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Benchmark peers whose pins conflict with ours get a venv of their own:
# openmined-psi 2.0.6 requires protobuf==6.30.2, we run protobuf 7.
OPENMINED_VENV := .venv-openmined
OPENMINED_PSI  := openmined-psi==2.0.6
# bench/peers.py: SmartNoise SQL (its SQLAlchemy 2.1 and psycopg2 next to our psycopg 3) and Flower
# 1.42 (protobuf 6, grpcio pins) each in a venv of their own; the bench runs `make` on them itself
SMARTNOISE_VENV := .venv-smartnoise
SMARTNOISE_SQL  := smartnoise-sql==1.0.10 psycopg2-binary==2.9.13
FLOWER_VENV     := .venv-flower
FLOWER          := flwr==1.42.0

.PHONY: demo lint test test-fast test-clock mutants protos install bench-peers bench-peer-openmined \
	bench-peer-smartnoise bench-peer-flower clean

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

$(SMARTNOISE_VENV)/.installed:
	rm -rf $(SMARTNOISE_VENV)
	$(PYTHON) -m venv $(SMARTNOISE_VENV)
	$(SMARTNOISE_VENV)/bin/pip install --quiet $(SMARTNOISE_SQL)
	$(SMARTNOISE_VENV)/bin/python -c 'import snsql, psycopg2'
	touch $@

$(FLOWER_VENV)/.installed:
	rm -rf $(FLOWER_VENV)
	$(PYTHON) -m venv $(FLOWER_VENV)
	$(FLOWER_VENV)/bin/pip install --quiet '$(FLOWER)'
	$(FLOWER_VENV)/bin/python -c 'import flwr.clientapp, flwr.serverapp'
	test -x $(FLOWER_VENV)/bin/flower-superlink -a -x $(FLOWER_VENV)/bin/flower-supernode
	touch $@

# one venv per benchmark peer (bench/psi.py, bench/peers.py call these themselves); bench-peers makes all
bench-peer-openmined: $(OPENMINED_VENV)/.installed
bench-peer-smartnoise: $(SMARTNOISE_VENV)/.installed
bench-peer-flower: $(FLOWER_VENV)/.installed
bench-peers: bench-peer-openmined bench-peer-smartnoise bench-peer-flower

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
	rm -rf $(VENV) $(OPENMINED_VENV) $(SMARTNOISE_VENV) $(FLOWER_VENV) build *.egg-info .pytest_cache
