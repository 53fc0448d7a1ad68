# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both install the exact versions in requirements.lock (every package, direct and transitive).
# torch is installed first and alone: an unpinned torch pulls a multi-GB CUDA build. For a GPU machine,
# `pip install torch==<the lock's version>` from PyPI into .venv first; the lock is then satisfied as is.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nestling-installed
LOCK := requirements.lock
# The torch release the lock is resolved against (`make lock`); installs read the lock, not this.
TORCH_VERSION := 2.13.0
PIP_TOOLS := pip-tools==7.6.2
# Triton for the fused stream-mixer kernel's tests in Triton's interpreter (TRITON_INTERPRET=1). torch's CUDA
# wheels bring the Triton they were built with; the CPU wheel brings none, so only a CPU torch gets this one.
TRITON_VERSION := 3.9.0

.PHONY: demo test install lock compat bench clean reproduce-cards

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$$(grep -E '^torch==' $(LOCK))"
	$(PY) -m pip install -q -r $(LOCK)
	if $(PY) -c "import torch, sys; sys.exit(torch.version.cuda is not None)"; then \
		$(PY) -m pip install -q "triton==$(TRITON_VERSION)"; fi
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/nestling demo

test: $(STAMP)
	$(PY) -m pytest -q

# Refresh requirements.lock from pyproject.toml's ranges (core + test + lmeval extras), newest versions
# allowed. Then run `make compat` and `make test` before committing the new lock.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(PIP_TOOLS)"
	echo "torch==$(TORCH_VERSION)" > $(VENV)/torch-pin.txt
	$(PY) -m piptools compile -q --allow-unsafe --extra test --extra lmeval --strip-extras \
		--no-emit-index-url --no-emit-find-links -c $(VENV)/torch-pin.txt -o $(LOCK) pyproject.toml
	# The CPU wheel's local label (+cpu) is machine-specific; the plain version matches CPU and CUDA builds.
	sed -i -E 's/^(torch==[0-9.]+)\+[a-z0-9]+/\1/' $(LOCK)

# Exported models (Stream Mixer and native Llama) against every transformers the official BabyLM pipelines
# use: loading, logits, generation, pipeline() and the card's own Usage block run verbatim (see BENCHMARKS.md).
compat: $(STAMP)
	$(PY) benchmarks/compat_transformers.py

# The published cards at full size on a GPU machine, one command per card (make reproduce-taam-pstar):
# train, evaluate every revision, export; each prints its expected wall-clock first. Prepare each card's
# corpus first (its recipe says how). NESTLING_REPRODUCE_TOY=1 runs a handful of CPU steps instead.
CARDS := stream-mixer-48m taam-pstar

reproduce-cards: $(addprefix reproduce-,$(CARDS))

reproduce-%: $(STAMP)
	$(PY) -m nestling.reproduce $* --out runs/reproduce

bench: $(STAMP)
	@echo "benchmarks live in benchmarks/; see BENCHMARKS.md for each command"

clean:
	rm -rf runs data/builtin-*
