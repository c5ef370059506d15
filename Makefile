# One entry point for people and CI. Every target creates or reuses .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install web browser run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "TradePro needs Python 3.11 or newer; found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) web

# The chart library of the web UI, from npm (web/package-lock.json) into the served folder.
# Without npm the UI still works and says that the chart is not installed.
CHART_JS := src/tradepro/web/static/vendor/lightweight-charts.standalone.production.js

web: $(CHART_JS)

$(CHART_JS): web/package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "notice: npm is not installed, so the web UI's price chart is not installed;"; \
		echo "        the UI works without it. Install Node.js and npm, then run 'make install'."; \
	elif npm ci --prefix web --no-audit --no-fund --loglevel=error; then \
		mkdir -p $(@D) && cp web/node_modules/lightweight-charts/dist/$(@F) $@; \
	else \
		echo "notice: 'npm ci' failed (offline?), so the web UI's price chart is not installed;"; \
		echo "        the UI works without it. Run 'make install' again once npm can reach its registry."; \
	fi

# Debian's Chromium for the browser tests (Playwright drives it and downloads no browser).
# Installed when missing if we may (root with apt-get, as on CI); otherwise a notice.
CHROMIUM ?= /usr/bin/chromium

browser:
	@test -x $(CHROMIUM) || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "notice: $(CHROMIUM) is missing; the browser tests (tests/e2e) need it:"; \
			echo "        sudo apt-get install -y chromium"; \
		fi; \
	}

run: install
	$(BIN)/tradepro up $(if $(FEED),--feed $(FEED))

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy

unit: $(STAMP) web browser
	$(BIN)/pytest -q

test: lint unit

bench: $(STAMP)
	$(BIN)/python bench/engine_core.py --positions 1000000

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
