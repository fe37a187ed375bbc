# Two commands matter: `make demo` (the main job, on a local lab host) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTHON_PATHS := ai4artsed_storage tests $(wildcard bench lab/tests lab/role_readmes.py)

# Debian packages the tests use: a real browser for the gallery test, nginx and wrk as the
# benchmark's peer and load generator.
SYSTEM_PACKAGES := chromium chromium-driver nginx-light wrk rsync

.PHONY: test check unit lint molecule demo system-deps lab-deps lab-image lab-destroy bench clean

system-deps:
	missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## test: everything CI runs: static checks, unit and integration tests, Ansible lint,
## then the Molecule scenarios on real systemd hosts
test: system-deps check unit lint molecule

## check: ruff (lint + format) and mypy --strict on the package
check: $(BIN)/.installed
	$(BIN)/ruff check $(PYTHON_PATHS)
	$(BIN)/ruff format --check $(PYTHON_PATHS)
	$(BIN)/mypy

## unit: the library's pytest suite (real filesystem, real HTTP servers on loopback)
unit: $(BIN)/.installed
	$(BIN)/pytest -q

## lint: yamllint and ansible-lint (production profile) over everything Ansible, and the
## role READMEs' variable lists against meta/argument_specs.yml
lint: lab-deps
	.venv-lab/bin/yamllint --strict .
	.venv-lab/bin/ansible-lint
	.venv-lab/bin/python lab/role_readmes.py --check

## molecule: every scenario under molecule/, one pytest test each
molecule: lab-image
	.venv-lab/bin/pytest -c lab/tests/pytest.ini lab/tests

lab-deps:
	bash lab/bootstrap.sh

lab-image: lab-deps
	bash lab/build-image.sh

## demo: build the lab host, seed the incident, show it broken (then fixed)
demo:
	bash lab/demo.sh

lab-destroy:
	bash lab/destroy.sh

## bench: benchmark tables (project beside its peer, measured in one run)
bench: $(BIN)/.installed
	for script in bench/bench_*.py; do $(BIN)/python "$$script"; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
