# Every target that needs the virtualenv depends on its stamp, so `make test` alone works on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8765

.PHONY: install test lint typecheck check emulate demo bench install-skill clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

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
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.run

SKILL_DIR := $(HOME)/.claude/skills/nano-banana

# Copies the skill and points its launcher at this checkout's engine (set up by `make install`).
install-skill: $(STAMP)
	rm -rf "$(SKILL_DIR)"
	mkdir -p "$(dir $(SKILL_DIR))"
	cp -R skill/nano-banana "$(SKILL_DIR)"
	sed 's|@NANOBANANA@|$(abspath $(BIN))/nanobanana|' skill/nano-banana/scripts/nanobanana > "$(SKILL_DIR)/scripts/nanobanana"
	chmod 755 "$(SKILL_DIR)/scripts/nanobanana"
	@echo "installed the nano-banana skill in $(SKILL_DIR)"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-output
