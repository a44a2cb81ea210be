# relnotes: two commands do the whole set-up on a fresh machine (Python 3.11, nothing installed).
#
#   make book    create .venv if needed, execute every notebook (PROFILE=cpu) whose inputs changed
#                since the last build (BOOK_ARGS=--no-cache: all of them), build _build/html
#   make test    create .venv if needed, run the tests (every notebook on the smoke profile)
#
# Other targets: test-cpu (the notebooks on the cpu profile, slow), references (rewrite the
# references of PROFILE; review and commit with the reason), gpu-check (the CUDA kernels on
# this machine's GPU, report in gpu_check.json; README "GPU check"), clean.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PROFILE ?= cpu
BIN := $(VENV)/bin
STAMP := $(VENV)/.relnotes-installed

.PHONY: book test test-cpu references gpu-check env clean help
help:
	@sed -n '2,10p' Makefile

env: $(STAMP)
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[book,test,pinned]"
	# real tree-crown images for the duplicate-removal chapter; --no-deps skips its heavy
	# dependencies (lightning, albumentations, ...), of which relnotes uses none
	$(BIN)/python -m pip install --no-deps deepforest==2.1.0
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/python -m relnotes.repro book --profile $(PROFILE) $(BOOK_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test-cpu: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m slow $(PYTEST_ARGS)

references: $(STAMP)
	$(BIN)/python -m relnotes.repro run --profile $(PROFILE) --update-references

# No install and no venv needed: this source tree with whatever torch and CuPy GPU_PYTHON has
# (default: .venv's python if there is one, else python3). Exit status 0 all passed, 1 a section
# failed, 2 no CUDA device, 3 no PyTorch for GPU_PYTHON.
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
gpu-check:
	@$(GPU_PYTHON) -c "import torch" 2>/dev/null || { echo "gpu-check: $(GPU_PYTHON) has no PyTorch; run make gpu-check GPU_PYTHON=/path/to/python (one with torch, and CuPy for the kernels)"; exit 3; }
	PYTHONPATH=$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH} $(GPU_PYTHON) -m relnotes.analysis.gpu_check --out gpu_check.json

clean:
	rm -rf _build book/_generated .pytest_cache
