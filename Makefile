# Two commands do everything on a fresh machine: `make demo` and `make test`.
# torch is installed first and pinned: an unpinned torch pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nestling-installed
TORCH ?= torch==2.13.0

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/nestling demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	@echo "benchmarks live in benchmarks/; see BENCHMARKS.md for each command"

clean:
	rm -rf runs data/builtin-*
