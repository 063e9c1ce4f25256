# The README's two commands: `make demo` and `make test`. Each sets itself up on a fresh machine
# that has only Python 3.11: a virtual environment in .venv, the project installed into it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-dates lint typecheck test-tools bench clean i18n

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The demo's data goes to the per-user data folder (~/.local/share/roster on Linux) unless
# ROSTER_HOME is set; `roster where` shows which database and feed folder are in use.
demo: $(STAMP)
	$(BIN)/roster init
	$(BIN)/roster demo

# Tools the tests drive from outside Python: ical.js (an independent iCalendar parser, run by
# Node.js), Debian's nginx (the production config is checked with `nginx -t` and served),
# ruby-icalendar (a strict iCalendar parser), chromium + chromedriver, zbar-tools and the Noto
# CJK fonts (the subscribe page is rendered and every QR code on it decoded); faketime and a C
# compiler for `make test-dates`; tmux (Chinese tables checked in a real terminal). apt-get is retried: another apt run may hold its lock for a while.
APT_PACKAGES := ruby ruby-icalendar chromium chromium-driver zbar-tools fonts-noto-cjk faketime gcc libc6-dev tmux
test-tools:
	@if [ -f tests/js/package.json ] && [ ! -d tests/js/node_modules ]; then \
		npm --prefix tests/js ci --no-audit --no-fund --silent || npm --prefix tests/js install --no-audit --no-fund --silent; fi
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null) \
		|| echo "warning: could not install nginx" >&2; }
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		for attempt in 1 2 3 4 5 6; do \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null && break; \
			echo "apt busy or failing (attempt $$attempt), retrying" >&2; sleep 10; \
		done; \
		for p in $$missing; do dpkg -s $$p >/dev/null 2>&1 || echo "warning: could not install $$p" >&2; done; \
	fi

# The message catalogs (scheduler/locale): extract the ids from the code with Babel, merge them into
# zh_CN and en, take translations waiting in scheduler/locale/pending/, compile the .mo files.
# tests/test_i18n.py fails when this was forgotten or a Chinese translation is missing.
i18n: $(STAMP)
	$(BIN)/python tools/i18n.py update
	@$(BIN)/python tools/i18n.py check || true

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy scheduler calendars tasks demo commands web

test: $(STAMP) test-tools lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The suite under libfaketime at a year and three years ahead: nothing may depend on today's date.
# Only this process tree's wall clock moves (PostgreSQL's and Redis's servers keep the real one). The
# clock is shifted by an offset, so that worker processes started later agree with the test (a start
# date would restart in each child); the monotonic clock stays real, and tests/faketime/monotonic_sleep.c
# fixes libfaketime 0.9.10's sleeps for it (see there why). libfaketime re-reads FAKETIME from the
# environment when its cache expires (every 10 s by default), from whichever thread asks the time; a
# getenv racing a putenv in another thread crashed an xdist worker once (SIGSEGV): the cache lasts a
# day here, and tests/conftest.py stops pytest's per-test PYTEST_CURRENT_TEST putenv under faketime.
FAKE_DATES     ?= 2027-12-20_10:00:00 2029-06-01_03:00:00
MONOTONIC_FIX  := $(VENV)/faketime/monotonic_sleep.so

$(MONOTONIC_FIX): tests/faketime/monotonic_sleep.c
	mkdir -p $(@D)
	cc -shared -fPIC -O2 -Wall -o $@ $< -ldl

test-dates: $(STAMP) test-tools $(MONOTONIC_FIX)
	@for when in $(FAKE_DATES); do \
		at="$$(echo $$when | tr _ ' ')"; offset=$$(( $$(date -u -d "$$at" +%s) - $$(date -u +%s) )); \
		case $$offset in -*) shift="$${offset}s" ;; *) shift="+$${offset}s" ;; esac; \
		echo "== the tests on $$at UTC (faketime $$shift)"; \
		LD_PRELOAD="$(abspath $(MONOTONIC_FIX))" FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_CACHE_DURATION=86400 \
			faketime -f "$$shift" $(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS) || exit 1; \
	done

bench: $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
