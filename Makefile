# Kefu developer commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo test test-tools test-fast lint format lint-imports bench-retrieval eval-quality eval-conversations bench-ingest bench-filtered bench-peer bench-scale fuzz screenshots clean

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-19s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install Kefu with its dev tools and embedded servers

demo: $(STAMP) ## Run everything on embedded defaults (PostgreSQL, Redis, API, worker) with a demo tenant
	$(BIN)/kefu demo

test: $(STAMP) test-tools ## Set up and run the whole test suite (real PostgreSQL+pgvector, real Redis)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q -p no:cacheprovider --durations=30; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test-tools: ## Check the system packages the browser tests need (Chromium; a CJK font for the screenshots)
	@command -v "$${KEFU_CHROMIUM:-chromium}" >/dev/null || { echo "make test needs Chromium for the browser tests:" \
		"apt-get install chromium fonts-wqy-zenhei (bash .ci/run installs them), or set KEFU_CHROMIUM"; exit 1; }
	@fc-list :lang=zh 2>/dev/null | grep -q . || echo "warning: no CJK font, Chinese screenshots will show" \
		"empty boxes: apt-get install fonts-wqy-zenhei"

test-fast: $(STAMP) ## Unit tests only
	$(BIN)/pytest -q tests/unit

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff formatting and fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lint-imports: $(STAMP) ## Check the import direction between packages
	$(BIN)/lint-imports

bench-retrieval: $(STAMP) ## Retrieval quality on ../shared/datasets through the real API and worker
	$(BIN)/python bench/eval_retrieval.py

eval-quality: $(STAMP) ## Every answer-quality figure (StackFAQ, HINT3, BQ, chat abstention) in one run, against its target
	$(BIN)/python bench/eval_quality.py

eval-conversations: $(STAMP) ## Multi-turn conversations (issue 18 figures) on the dev and holdout sets through the real API
	$(BIN)/python bench/eval_conversations.py --set both

bench-ingest: $(STAMP) ## Ingestion throughput vs the raw embedder
	$(BIN)/python bench/ingest.py

bench-peer: $(STAMP) ## Kefu beside LangChain PGVector (same embedder and data; its own venv in ../peer-venv)
	$(BIN)/python bench/peer.py

bench-filtered: $(STAMP) ## Tenant-filtered vector search recall and latency in a large table
	$(BIN)/python bench/filtered_search.py

bench-scale: $(STAMP) ## Full-size scale checks (100k-row CSV, 200 documents) that make test runs small
	$(BIN)/python bench/scale_checks.py

fuzz: $(STAMP) ## Long schemathesis run over every API operation (make test runs a short one)
	$(BIN)/python bench/fuzz_api.py --examples 200

screenshots: $(STAMP) test-tools ## README pictures (widget, walkthrough, admin app en/zh) from a fresh demo in Chromium
	$(BIN)/python bench/screenshots.py

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) .kefu .pytest_cache
