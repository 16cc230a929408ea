# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
# The suite runs on this many processes (pytest-xdist; one test file per process at a time): 1 for a plain run.
TEST_WORKERS ?= 2
# PostgreSQL server the tests create their own throw-away database on (trust auth on this machine).
export BREACHDESK_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres

.PHONY: run test install bytecode lint check-workflows chromium sqlmap bench-smoke clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Every process (each command, server worker and test subprocess) imports the app: compiled once here, not in each
# one (where PYTHONDONTWRITEBYTECODE is set, nothing compiled on import is kept; `breachdesk --help` took 3.3 s
# instead of 2.5 on a slow machine).
bytecode: install
	$(BIN)/python -m compileall -q -j 0 app bench migrations tests

## make run: install, migrate the SQLite database, load the demo, serve on http://127.0.0.1:5000
run: install bytecode
	$(BIN)/breachdesk db upgrade
	$(BIN)/breachdesk demo
	$(BIN)/breachdesk run --host $(HOST) --port $(PORT)

## make test: install with the test tools, then lint, check the workflows and run the whole suite
test: install bytecode chromium sqlmap
	$(BIN)/ruff check app tests bench migrations
	$(BIN)/breachdesk workflows check
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(BIN)/ruff check app tests bench migrations

check-workflows: install
	$(BIN)/breachdesk workflows check

# Browser tests drive Debian's Chromium (Playwright's own browser download cannot work here).
chromium:
	@test -x /usr/bin/chromium || (echo "Installing Debian's chromium for the browser tests…" && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The SQL-injection scan (tests/security) drives Debian's sqlmap.
sqlmap:
	@test -x /usr/bin/sqlmap || (echo "Installing Debian's sqlmap for the security tests…" && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlmap >/dev/null)

bench-smoke: install
	$(BIN)/python -m bench.smoke

clean:
	rm -rf $(VENV) instance test-artifacts .pytest_cache
