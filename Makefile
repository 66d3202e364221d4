# The README's two commands (`make demo`, `make test`) do all set-up from a fresh clone with only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test

.PHONY: demo test lint generated bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("tcw needs Python >= 3.11" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check tcw tests bench examples
	$(BIN)/ruff format --check tcw tests bench examples
	$(BIN)/mypy

# Coverage is reported, not enforced: no threshold to game. The tcw processes the tests start are measured
# too (coverage's subprocess patch); one killed with SIGKILL leaves no data, see the note it prints.
# Two pytest workers: the suite mostly waits (long polls, claim expiries, real processes), and coverage's
# tracing would otherwise add its CPU time to that wait, one test after the other.
test: lint
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest -n 2
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report
	@echo "coverage: includes the tcw processes the tests start; those killed with SIGKILL are not measured"

generated: $(STAMP)
	$(BIN)/python -m tcw.cli.generate

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
