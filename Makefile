# SessionCloud: `make run` to try it, `make test` to test it.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/sessioncloud
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test test-sqlite test-postgres services lint clean

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

test: install services test-sqlite test-postgres

test-sqlite: install
	SESSIONCLOUD_DATA_DIR=$(CURDIR)/var/test-sqlite $(BIN)/pytest

test-postgres: install services
	SESSIONCLOUD_DATA_DIR=$(CURDIR)/var/test-postgres DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_TEST_URL) \
		$(BIN)/pytest

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var build *.egg-info
