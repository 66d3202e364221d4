# The README's two commands (`make demo`, `make test`) do all set-up from a fresh clone with only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test

LINTED := tcw tests bench examples

.PHONY: demo test lint style generated bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("tcw needs Python >= 3.11" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: style
	$(BIN)/mypy

style: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

# Coverage is reported, not enforced: no threshold to game. The tcw processes the tests start are measured
# too (coverage's subprocess patch); one killed with SIGKILL leaves no data, see the note it prints.
# Three pytest workers on CI's two cores: the suite mostly waits (long polls, claim expiries, real
# processes), so two workers left the cores idle about 45 % of the time; a third fills that (~30 s less),
# and the suite passes with it while another suite runs beside it (load 5-6 on two cores).
# mypy runs beside the tests, its output shown after theirs: the suite leaves a core idle much of the time,
# and on a clean checkout (CI) mypy has no cache and takes ~10 s.
# Bytecode caches (gitignored) are written even where PYTHONDONTWRITEBYTECODE is set: without them each
# pytest worker rewrites every test module again (~3 s of CPU) and every tcw process the tests start
# compiles tcw from source.
test: export PYTHONDONTWRITEBYTECODE :=
test: style
	@mkdir -p build
	$(BIN)/coverage erase
	$(BIN)/mypy > build/mypy.log 2>&1 & typing=$$!; \
	$(BIN)/coverage run -m pytest -n 3; tests=$$?; \
	wait $$typing; typed=$$?; echo "$(BIN)/mypy (beside the tests):"; cat build/mypy.log; \
	[ $$tests = 0 ] && [ $$typed = 0 ]
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report
	@echo "coverage: includes the tcw processes the tests start; those killed with SIGKILL are not measured"

generated: $(STAMP)
	$(BIN)/python -m tcw.cli.generate

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
