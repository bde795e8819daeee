# Every target that needs the virtualenv depends on its stamp, so `make test` alone works on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8765

.PHONY: install test lint typecheck check emulate demo bench install-skill install-mcp clean

PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

# Set-up says what it does in a line, and then that it is done; pip's own output is kept for
# what goes wrong.
$(STAMP): pyproject.toml
	@echo "setting up $(VENV): nanobanana-async and its dev tools (once, and again after pyproject.toml changes; under a minute)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PIP) --upgrade pip
	@$(PIP) -e '.[dev]'
	@touch $(STAMP)
	@echo "$(VENV) ready"

install: $(STAMP)

# A worker per core (at most 4), the next test to whichever is free; the slowest tests and
# the time per room follow the dots.
# One worker more than the cores: the e2e tests wait on subprocesses and sockets for part of
# their time, and a spare worker fills it (measured on 2 cores: 344 s with 2 workers, then
# 263 s with 3 once two heavy e2e files also made smaller images; each change alone was not
# timed).
WORKERS := $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$((n + 1 < 5 ? n + 1 : 5)))

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist worksteal --durations 10

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

emulate: $(STAMP)
	$(BIN)/nanobanana emulate --host 127.0.0.1 --port $(PORT)

demo: $(STAMP)
	$(BIN)/python -m nanobanana_async.cli.demo

bench: $(STAMP)
	$(PIP) -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.run

SKILL_DIR := $(HOME)/.claude/skills/nano-banana

# Installs the skill and points its launcher at this checkout's engine (set up by `make install`).
# Updates only the files the skill ships; the user's own files there are kept, and a shipped file
# the user edited is moved to a dated backup folder first (skill/install.py; the last line says).
install-skill: $(STAMP)
	$(BIN)/python skill/install.py --into "$(SKILL_DIR)" --engine "$(abspath $(BIN))/nanobanana"

# The MCP server's SDK (the `mcp` extra) in this checkout's venv, and the line that registers it.
install-mcp: $(STAMP)
	$(PIP) -e '.[mcp]'
	@echo "register it with Claude Code:"
	@echo "  claude mcp add nano-banana -- $(abspath $(BIN))/nanobanana mcp"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-output
