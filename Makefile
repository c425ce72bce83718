# The two commands: `make run` and `make test`. Everything else is set-up they call.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint typecheck pytest bench catalogs compile browser clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

compile: $(STAMP)
	$(PY) -c "from bot.i18n import compile_catalogs; compile_catalogs()"

install: $(STAMP) compile

run: install
	$(PY) -m bot migrate
	$(PY) -m bot run

# Headless Chromium for the web chat page test: Debian's package, never a downloaded browser.
browser:
	@command -v chromium >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: install browser
	$(VENV)/bin/pytest

test: install browser lint typecheck pytest

bench: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script --fast || exit 1; done

# Refresh messages.pot from the code and form files, and merge new keys into vi and en.
catalogs: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -o locales/messages.pot --no-location \
		--project giamngheo-bot --omit-header .
	$(VENV)/bin/pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching \
		--ignore-obsolete --omit-header

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
	find locales -name '*.mo' -delete
