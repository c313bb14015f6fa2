# The two commands: `make run` starts the platform, `make test` runs every check.
PORT ?= 8080
DATA_DIR ?= ./data
VENV := .venv/bin

.PHONY: run test install install-dev lint typecheck pytest bench clean

run: install
	$(VENV)/instapods server --data-dir $(DATA_DIR) --port $(PORT)

test: install-dev lint typecheck pytest

install:
	@scripts/install

install-dev:
	@scripts/install --dev

lint:
	$(VENV)/ruff check src tests bench
	$(VENV)/ruff format --check src tests bench

typecheck:
	$(VENV)/mypy

pytest:
	$(VENV)/pytest

bench: install-dev
	@for b in bench/*.py; do echo "== $$b"; $(VENV)/python $$b || exit 1; done

clean:
	rm -rf .venv .mypy_cache .pytest_cache .ruff_cache
