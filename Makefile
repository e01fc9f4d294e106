# SessionCloud: `make run` to try it, `make test` to test it.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/sessioncloud
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test test-sqlite test-postgres services browser sip registrar lint clean bench audit fuzz soak

$(BIN)/sessioncloud: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(BIN)/sessioncloud

run: install
	$(BIN)/sessioncloud demo

services:
	bash scripts/services.sh

# Debian's Chromium for the browser tests (tests/browser), installed when missing.
browser:
	bash scripts/browser.sh

# Debian's kamailio, baresip and linphonec for the SIP end-to-end test (tests/sip), when missing.
sip:
	bash scripts/sip.sh

# A loopback SIP registrar that knows the demo's users (run `make run` first; README).
registrar: install sip
	$(BIN)/python scripts/registrar.py

test: install lint services browser sip audit test-sqlite test-postgres

# Known vulnerabilities in the installed dependencies; says plainly when it cannot look them up.
audit: install
	$(BIN)/python scripts/dependency_audit.py

test-sqlite: install browser sip
	SESSIONCLOUD_DATA_DIR=$(CURDIR)/var/test-sqlite $(BIN)/pytest

test-postgres: install services browser
	SESSIONCLOUD_DATA_DIR=$(CURDIR)/var/test-postgres DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_TEST_URL) \
		$(BIN)/pytest

# Benchmarks (docs/performance.md): loopback only, each bounded in time, each deployment (PostgreSQL +
# Redis, then the embedded default), with the commands of the figures there; about 25 minutes.
bench: install services
	@command -v wrk >/dev/null && command -v nginx >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null)
	$(BIN)/python bench/config_fetch.py --rounds 4 --seconds 4
	$(BIN)/python bench/config_fetch.py --embedded --rounds 4 --seconds 4
	$(BIN)/python bench/slow_neighbour.py --b-phones 150,1000 --seconds 4 --rounds 3
	$(BIN)/python bench/slow_neighbour.py --embedded --b-phones 150,1000 --seconds 4 --rounds 3
	$(BIN)/python bench/slow_provider.py
	$(BIN)/python bench/slow_provider.py --embedded
	$(BIN)/python bench/provider_connections.py
	$(BIN)/python bench/provisioning.py --seconds 10 --rounds 2
	$(BIN)/python bench/provisioning.py --embedded --seconds 10 --rounds 2
	$(BIN)/python bench/portal.py --seconds 4 --rounds 1
	$(BIN)/python bench/portal.py --embedded --seconds 4 --rounds 1
	$(BIN)/python bench/save_latency.py
	$(BIN)/python bench/provision_cpu.py
	$(BIN)/python bench/isolation.py
	$(BIN)/python bench/size.py
	$(BIN)/python bench/bulk.py

# Deep API fuzzing (docs/security.md): more cases per operation and a random seed, both databases.
FUZZ_EXAMPLES ?= 300
fuzz: install services
	SESSIONCLOUD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) SESSIONCLOUD_DATA_DIR=$(CURDIR)/var/fuzz-sqlite \
		$(BIN)/pytest tests/reliability/test_api_fuzz.py
	SESSIONCLOUD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) SESSIONCLOUD_DATA_DIR=$(CURDIR)/var/fuzz-postgres \
		DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_TEST_URL) $(BIN)/pytest tests/reliability/test_api_fuzz.py

# Ten minutes of mixed phone and portal traffic on loopback (docs/security.md); SOAK_ARGS=--postgres.
SOAK_ARGS ?=
soak: install services
	$(BIN)/python scripts/soak.py --minutes 10 $(SOAK_ARGS)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var build *.egg-info
