# The two commands: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test install install-test migrate lint bench soak clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

migrate: install
	$(BIN)/flask --app wsgi db upgrade

run: migrate
	$(BIN)/python wsgi.py

# gevent patches the standard library before pytest imports anything, as wsgi.py does.
test: install-test
	$(BIN)/python -m gevent.monkey --module pytest $(PYTEST_ARGS)

# The long soak (docs/testing.md, "Reliability"): SOAK_ARGS="--clients 1000 --events 5000" to size it.
SOAK_ARGS ?=
soak: install-test
	$(BIN)/python -m gevent.monkey --module tests.reliability.soak $(SOAK_ARGS)

# Benchmarks of the real-time layer (docs/BENCHMARKS.md): under 15 minutes on 2 cores;
# `make bench BENCH_ARGS=--quick` is the ~2-minute subset. Writes bench/results/<time>.json.
BENCH_ARGS ?=
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[bench]"
	touch $@ $(VENV)/.installed

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) build *.egg-info

# The message catalogs (docs/i18n.md): collect the texts of the code, then merge them into
# each language's .po (new ones come untranslated; tests/test_i18n.py fails until they are).
BABEL_KEYWORDS := -k ApiError:3 -k invalid_field:2 -k _invalid:2 -k _bad:2
messages: install
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --no-location --sort-output \
	  --project=itcook -o itcook/translations/messages.pot .
	$(BIN)/pybabel update -i itcook/translations/messages.pot -d itcook/translations -l ru \
	  --init-missing --ignore-obsolete --no-fuzzy-matching --ignore-pot-creation-date
