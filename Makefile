# llava_nb: the two commands in the README are `make test` and `make quickstart`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# On the project's CPU machines a CPU wheel of torch 2.13.0 lies in /opt/wheels; everywhere else
# users get their normal torch (CUDA or CPU, whatever pip picks for the platform).
TORCH ?= $(shell ls /opt/wheels/torch-2.13.0*cpu* >/dev/null 2>&1 && echo torch==2.13.0 || echo torch)
STAMP := $(VENV)/.installed

.PHONY: install browser-deps test test-nbs test-py check-sync test-slow quickstart lab clean bench outputs lmms-eval

$(STAMP): settings.ini setup.py pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[dev,notebook]"
	# the official LLaVA code, as an oracle for dev-only tests (its own dependencies pin old torch/transformers: none)
	$(PIP) install -q --no-deps llava-torch==1.2.2.post1
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive JupyterLab/Voila in Debian's Chromium through the python playwright package
# (never `playwright install`). Installed once; the tests skip with a reason if this could not run.
CHROMIUM := /usr/lib/chromium/chromium
browser-deps:
	@test -x $(CHROMIUM) || { echo "installing Debian chromium (needs root)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "could not install chromium: browser tests will be skipped"; }

# Notebooks are the source: exporting and cleaning must not change any file.
check-sync: $(STAMP)
	@before=$$(git status --porcelain --untracked-files=all -- nbs llava_nb; git diff -- nbs llava_nb | sha1sum); \
	$(VENV)/bin/nbdev_export && $(VENV)/bin/nbdev_clean; \
	after=$$(git status --porcelain --untracked-files=all -- nbs llava_nb; git diff -- nbs llava_nb | sha1sum); \
	if [ "$$before" != "$$after" ]; then echo "nbdev_export/nbdev_clean changed files: export and clean the notebooks, then commit"; git status --short -- nbs llava_nb; exit 1; fi; \
	echo "notebooks and llava_nb/ agree"

test-nbs: $(STAMP)
	$(VENV)/bin/nbdev_test --n_workers 2 --timing

# One torch thread per pytest worker: tiny models run several times faster than with 2 threads each.
test-py: $(STAMP) browser-deps
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest -q -n 2 -m "not slow" tests

test: check-sync test-nbs test-py

# The slower tier: long notebook cells (tst_flags slow) and pytest's slow marks.
test-slow: $(STAMP)
	$(VENV)/bin/nbdev_test --n_workers 2 --flags slow
	$(VENV)/bin/pytest -q -n 2 -m slow tests

# The small world end to end on this machine (CPU here, CUDA when present): data, stage 1, stage 2, eval.
QUICKSTART_OUT ?= runs/quickstart
quickstart: $(STAMP)
	$(VENV)/bin/llava-nb quickstart --out $(QUICKSTART_OUT)

# Notebooks are committed with their outputs (pictures show wherever they are read): rerun them after a change.
outputs: $(STAMP)
	$(PY) tools/make_outputs.py

bench: $(STAMP)
	$(PY) bench/masking_throughput.py
	$(PY) bench/chat_latency.py
	$(PY) bench/train_throughput.py

lab: $(STAMP)
	$(VENV)/bin/jupyter lab nbs

clean:
	rm -rf $(VENV) build *.egg-info _proc _docs

# lmms-eval (the harness VLM users evaluate with) on the shipped small-world checkpoint, three ways: its llava_hf model
# type on `llava-nb export-hf`, its openai model type on `llava-nb serve`, and `llava-nb ask`, on the task in
# lmms_eval_tasks/; they must agree item by item. lmms-eval gets its own venv (.venv-lmms, from PyPI once).
# Several minutes and downloads: not part of `make test`.
LMMS_VENV ?= .venv-lmms
lmms-eval: $(STAMP)
	$(PY) tools/lmms_eval_check.py --venv $(LMMS_VENV)
